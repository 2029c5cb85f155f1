"""MPO hyper-parameters (`configs/agent/mpo.yaml` holds the defaults, a comment on each)."""

from __future__ import annotations

import dataclasses

from coachrl.schema import Section, param, require


@dataclasses.dataclass(frozen=True)
class MPOConfig(Section):
    """Maximum a Posteriori Policy Optimisation (Abdolmaleki et al. 2018a, b), discrete heads.

    Attributes:
      hidden_sizes: widths of the policy MLP.
      critic_hidden_sizes: widths of the Q(s, a) MLP (features + one-hot joint action).
      num_samples: joint actions sampled from the target policy per state (E-step, targets).
      epsilon: KL bound of the E-step (temperature dual).
      epsilon_policy: KL bound of the M-step, per action head.
      init_temperature: initial temperature eta.
      init_alpha: initial KL multiplier of every head.
      learning_rate: Adam step size of the policy and the critic.
      dual_learning_rate: Adam step size of the temperature and the KL multipliers.
      discount: gamma.
      n_step: steps of reward before bootstrapping in the critic target.
      target_update_rate: Polyak rate of the target networks (tau).
      batch_size: transitions per gradient step.
      samples_per_insert: transitions sampled for learning per transition inserted.
      replay_capacity: transitions kept in the replay.
      min_replay_size: transitions collected before learning starts.
      max_grad_norm: global gradient-norm clip of the policy and the critic.
      normalize_observations: standardise features with running statistics.
    """

    hidden_sizes: tuple[int, ...] = param((64, 64), lo=1)
    critic_hidden_sizes: tuple[int, ...] = param((128, 128), lo=1)
    num_samples: int = param(20, lo=1)
    epsilon: float = param(0.1, lo=0.0)
    epsilon_policy: float = param(0.05, lo=0.0)
    init_temperature: float = param(1.0, lo=1e-6)
    init_alpha: float = param(1.0, lo=1e-6)
    learning_rate: float = param(3e-4, lo=0.0, hi=1.0)
    dual_learning_rate: float = param(1e-2, lo=0.0, hi=1.0)
    discount: float = param(0.99, lo=0.0, hi=1.0)
    n_step: int = param(5, lo=1)
    target_update_rate: float = param(0.02, lo=0.0, hi=1.0)
    batch_size: int = param(256, lo=1)
    samples_per_insert: float = param(8.0, lo=0.0)
    replay_capacity: int = param(200_000, lo=1)
    min_replay_size: int = param(5_000, lo=1)
    max_grad_norm: float = param(40.0, lo=0.0)
    normalize_observations: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.min_replay_size <= self.replay_capacity,
                f"min_replay_size: {self.min_replay_size} must be <= replay_capacity "
                f"({self.replay_capacity})")
