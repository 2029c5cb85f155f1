"""PPO hyper-parameters (`configs/agent/ppo.yaml` holds the defaults, a comment on each)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from coachrl.schema import Section, param, require


@dataclasses.dataclass(frozen=True)
class PPOConfig(Section):
    """Proximal Policy Optimisation (Schulman et al. 2017) with GAE (Schulman et al. 2016).

    Attributes:
      hidden_sizes: widths of the policy and the value MLPs (separate torsos).
      learning_rate: Adam step size at the start.
      lr_schedule: "linear" decays the step size to 0 over the run; "constant" keeps it.
      discount: gamma.
      gae_lambda: GAE lambda.
      clip_epsilon: the ratio clip of the surrogate objective.
      value_coef: weight of the value loss.
      entropy_coef: weight of the entropy bonus (summed over heads).
      max_grad_norm: global gradient-norm clip.
      num_epochs: passes over each batch.
      num_minibatches: minibatches per pass.
      normalize_advantages: standardise advantages per minibatch.
      normalize_observations: standardise features with running statistics.
    """

    hidden_sizes: tuple[int, ...] = param((64, 64), lo=1)
    learning_rate: float = param(3e-4, lo=0.0, hi=1.0)
    lr_schedule: Literal["linear", "constant"] = "linear"
    discount: float = param(0.99, lo=0.0, hi=1.0)
    gae_lambda: float = param(0.95, lo=0.0, hi=1.0)
    clip_epsilon: float = param(0.2, lo=0.0, hi=1.0)
    value_coef: float = param(0.5, lo=0.0)
    entropy_coef: float = param(0.01, lo=0.0)
    max_grad_norm: float = param(0.5, lo=0.0)
    num_epochs: int = param(4, lo=1)
    num_minibatches: int = param(4, lo=1)
    normalize_advantages: bool = True
    normalize_observations: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(len(self.hidden_sizes) >= 1, "hidden_sizes: needs at least one layer")
