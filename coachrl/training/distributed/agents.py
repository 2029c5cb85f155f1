"""The learners' pure pieces as the distributed trainer needs them (Acme's "builder").

An actor step writes one record per step for its whole batch of E athletes:
`features [E, F]`, `action_mask [E, M]` (flat), `action [E, H]`, `reward [E]`,
`discount [E]` (the timestep's: 0 at a true terminal, 1 otherwise, also when a
season ends by time), `done [E]` (the episode ended with this step) and, for
PPO, the behaviour policy's `log_prob [E]` and `value [E]`. A replay item is a window of such
records, [L, E, ...]:

- PPO: L = rollout_length + 1 every rollout_length steps (consecutive windows
  share one step): the first T steps are the rollout, the last supplies the
  bootstrap value V(s_T). A batch is `batch_items` windows side by side.
  Episode ends inside a window are bootstrapped or not by their discount
  (`ppo.losses.gae`).
- MPO: L = n_step + 1 every step, one item per athlete ([L, 1, ...], Acme's
  layout; `distributed.mpo_athletes_per_item` = g: [L, g, ...]): the n-step
  transition of the first step (its look-ahead is the last; an episode that ends
  sooner is bootstrapped at its last step, `mpo.losses.n_step_returns`). A batch
  is ceil(batch_size / g) items: batch_size independent transitions when g = 1.

`make_distributed_agent` returns those shapes, the jitted act and update
functions (the SAME `make_update` as the jitted trainer) and the conversion of
sampled windows into the learner's batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.agents.mpo import acting as mpo_acting
from coachrl.agents.mpo import learning as mpo_learning
from coachrl.agents.mpo import losses as mpo_losses
from coachrl.agents.networks import (
    head_mask,
    make_policy_critic_networks,
    make_policy_value_networks,
)
from coachrl.agents.policy import Policy
from coachrl.agents.ppo import acting as ppo_acting
from coachrl.agents.ppo import learning as ppo_learning
from coachrl.training.config import TrainConfig

COLUMNS = ("features", "action_mask", "action", "reward", "discount", "done")
PPO_COLUMNS = COLUMNS + ("log_prob", "value")


class DistributedAgent(NamedTuple):
    name: str  # "ppo" or "mpo"
    columns: tuple[str, ...]  # what each step record holds
    sequence_length: int  # steps per replay item (L)
    sequence_period: int  # actor steps between items
    items_per_batch: int  # items per learner update
    envs_per_item: int  # athletes an item holds: an actor's E (PPO) or 1 (MPO)
    init_training: Callable[[jax.Array], Any]  # key -> TrainingState
    learn: Callable[[Any, Any], tuple[Any, dict]]  # jitted (state, batch) -> (state, metrics)
    to_batch: Callable[[dict[str, np.ndarray]], Any]  # jitted [L, items x E] columns -> batch
    variables: Callable[[Any], dict]  # TrainingState -> what actors and evaluators need
    act: Callable[[dict, dict, jax.Array], dict]  # jitted (variables, obs, key) -> record part
    policy: Callable[..., Policy]  # (variables, greedy=True) -> evaluation policy


def ppo_batch(columns: dict[str, jnp.ndarray], nvec: tuple[int, ...]) -> ppo_learning.Batch:
    """[T + 1, B] windows -> PPO's Batch: the first T steps, bootstrapped by V(s_T)."""
    head = {k: v[:-1] for k, v in columns.items()}
    return ppo_learning.Batch(
        features=head["features"], mask=head_mask(head["action_mask"], nvec),
        action=head["action"], log_prob=head["log_prob"], value=head["value"],
        reward=head["reward"], done=head["done"], discount=head["discount"],
        bootstrap_value=columns["value"][-1])


def mpo_transitions(columns: dict[str, jnp.ndarray], gamma: float,
                    n: int) -> mpo_learning.Transition:
    """[n + 1, B] windows -> the B n-step transitions of their first steps."""
    out = mpo_losses.n_step_returns(columns["reward"][:n], columns["discount"][:n],
                                    columns["done"][:n], gamma, n)  # [1, B] each
    index = out.bootstrap_offset[0]  # [B]: n, or the step where the episode ended

    def at_bootstrap(x):  # [n + 1, B, ...] -> [B, ...]
        return jnp.take_along_axis(x, index.reshape((1, -1) + (1,) * (x.ndim - 2)), axis=0)[0]

    return mpo_learning.Transition(
        features=columns["features"][0], mask=columns["action_mask"][0],
        action=columns["action"][0], returns=out.returns[0],
        bootstrap_discount=out.bootstrap_discount[0],
        next_features=at_bootstrap(columns["features"]),
        next_mask=at_bootstrap(columns["action_mask"]))


def make_distributed_agent(config: TrainConfig, nvec: tuple[int, ...], num_features: int,
                           envs_per_actor: int) -> DistributedAgent:
    """The agent of `config` for actors stepping `envs_per_actor` environments each."""
    nvec = tuple(int(n) for n in nvec)
    if config.agent == "ppo":
        return _ppo(config, nvec, num_features, envs_per_actor)
    return _mpo(config, nvec, num_features, envs_per_actor)


def _ppo(config: TrainConfig, nvec, num_features: int, envs: int) -> DistributedAgent:
    ppo, t = config.ppo, config.trainer.rollout_length
    items = config.distributed.batch_items
    if (t * items * envs) % ppo.num_minibatches:
        raise ValueError(f"ppo.num_minibatches ({ppo.num_minibatches}) must divide the "
                         f"learner batch: trainer.rollout_length ({t}) x distributed."
                         f"batch_items ({items}) x envs per actor ({envs})")
    networks = make_policy_value_networks(nvec, ppo.hidden_sizes)
    per_update = t * items * envs
    optimizer = ppo_learning.make_optimizer(
        ppo, max(1, config.trainer.total_env_steps // per_update))
    act = ppo_acting.make_actor_step(networks, ppo)

    def act_fn(variables, observation, key):
        out = act(variables["params"], variables["obs_stats"], observation, key)
        return {"action": out.action, "log_prob": out.log_prob, "value": out.value}

    return DistributedAgent(
        name="ppo", columns=PPO_COLUMNS, sequence_length=t + 1, sequence_period=t,
        items_per_batch=items, envs_per_item=envs,
        init_training=lambda key: ppo_learning.init_training_state(key, networks, optimizer,
                                                                   num_features),
        learn=jax.jit(ppo_learning.make_update(networks, ppo, optimizer)),
        to_batch=jax.jit(lambda columns: ppo_batch(columns, nvec)),
        variables=lambda state: {"params": state.params, "obs_stats": state.obs_stats},
        act=jax.jit(act_fn),
        policy=lambda v, greedy=True: ppo_acting.make_policy(networks, ppo, v["params"],
                                                             v["obs_stats"], greedy))


def _mpo(config: TrainConfig, nvec, num_features: int, envs: int) -> DistributedAgent:
    mpo, per_item = config.mpo, min(config.distributed.mpo_athletes_per_item, envs)
    networks = make_policy_critic_networks(nvec, mpo.hidden_sizes, mpo.critic_hidden_sizes)
    optimizers = mpo_learning.make_optimizers(mpo)
    update = mpo_learning.make_update(networks, mpo, optimizers)
    act = mpo_acting.make_actor_step(networks, mpo)

    def learn(state, batch):  # the features seen join the running statistics, then update
        return update(mpo_learning.add_observations(state, batch.features), batch)

    def act_fn(variables, observation, key):
        return {"action": act(variables["policy_params"], variables["obs_stats"], observation,
                              key)}

    return DistributedAgent(
        name="mpo", columns=COLUMNS, sequence_length=mpo.n_step + 1, sequence_period=1,
        items_per_batch=math.ceil(mpo.batch_size / per_item), envs_per_item=per_item,
        init_training=lambda key: mpo_learning.init_training_state(key, networks, optimizers,
                                                                   mpo, num_features),
        learn=jax.jit(learn),
        to_batch=jax.jit(lambda columns: mpo_transitions(columns, mpo.discount, mpo.n_step)),
        variables=lambda state: {"policy_params": state.policy_params,
                                 "obs_stats": state.obs_stats},
        act=jax.jit(act_fn),
        policy=lambda v, greedy=True: mpo_acting.make_policy(networks, mpo, v["policy_params"],
                                                             v["obs_stats"], greedy))


def example_columns(agent: DistributedAgent, nvec: tuple[int, ...],
                    num_features: int) -> dict[str, np.ndarray]:
    """Zero-filled columns shaped like one learner batch ([L, items x E, ...])."""
    lead = (agent.sequence_length, agent.items_per_batch * agent.envs_per_item)
    shapes = {"features": ((num_features,), np.float32), "action_mask": ((sum(nvec),), bool),
              "action": ((len(nvec),), np.int32), "reward": ((), np.float32),
              "discount": ((), np.float32), "done": ((), bool),
              "log_prob": ((), np.float32), "value": ((), np.float32)}
    return {k: np.zeros(lead + shapes[k][0], shapes[k][1]) for k in agent.columns}


__all__ = ["COLUMNS", "DistributedAgent", "PPO_COLUMNS", "example_columns",
           "make_distributed_agent",
           "mpo_transitions", "ppo_batch"]
