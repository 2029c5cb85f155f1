"""The actor: steps a batch of environments with the learner's latest policy into Reverb.

    actor = Actor(config, make_envs, index=0, replay_address, source_name, counter_name)
    actor.run()      # act, step, add to replay, pull parameters, report; until asked to stop

Acme's actor split: a jitted policy (`agents.DistributedAgent.act`), an adder
(`replay.SequenceAdder`), and a variable client that asks the learner for its
parameters every `variable_update_period` steps. Episode returns and step counts
go to the counter every `report_every` steps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from coachrl.training.config import TrainConfig
from coachrl.training.distributed.agents import make_distributed_agent
from coachrl.training.distributed.replay import SequenceAdder

REPORT_EVERY_S = 1.0


def named(name: str) -> Any:
    """The Ray actor of this name. Nodes take their peers by name: a handle passed to a
    constructor is an object reference Ray cannot rebuild when the node is restarted
    after the reference was lost (ray-project/ray#53727)."""
    import ray

    return ray.get_actor(name)


def configure_process(single_threaded: bool = False) -> None:
    """A node's JAX set-up, before its first computation: compiled programs are cached on
    disk (`$COACHRL_JAX_CACHE`, default ~/.cache/coachrl/jax) so restarted and later nodes
    skip most compiling; `single_threaded` turns XLA's Eigen thread pool off."""
    cache = os.environ.get("COACHRL_JAX_CACHE",
                           os.path.join(os.path.expanduser("~"), ".cache", "coachrl", "jax"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    flags = os.environ.get("XLA_FLAGS", "")
    if single_threaded and "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()


class VariableClient:
    """The learner's parameters, asked for every `period` calls of `maybe_update` (Acme's
    asynchronous variable client): the actor keeps acting while the request is in flight,
    and the source sends nothing when it has no newer version."""

    def __init__(self, source: Any, period: int):
        self._source, self._period, self._calls = source, period, 0
        self.variables, self.version = None, None
        self._pending: Any = None

    def _take(self, got: dict[str, Any] | None) -> None:
        if got is not None:
            self.version, self.variables = got["version"], got["variables"]

    def maybe_update(self) -> None:
        import ray

        if self.variables is None:  # the first parameters: wait for them
            self._take(ray.get(self._source.get_variables.remote()))
            return
        self._calls += 1
        if self._pending is not None and ray.wait([self._pending], timeout=0)[0]:
            self._take(ray.get(self._pending))
            self._pending = None
        if self._pending is None and self._calls % self._period == 0:
            self._pending = self._source.get_variables.remote(self.version)


class Actor:
    """One actor process: `make_envs(index)` builds its batch of environments;
    `variable_source` and `counter` are the names of those Ray actors (`named`)."""

    def __init__(self, config: TrainConfig, make_envs: Callable[[int], Any], index: int,
                 replay_address: str, variable_source: str, counter: str):
        import reverb

        configure_process(config.distributed.single_threaded_actors)
        self.index = index
        self.envs = make_envs(index)
        self.agent = make_distributed_agent(config, self.envs.nvec, self.envs.num_features,
                                            self.envs.num_envs)
        self._adder = SequenceAdder(reverb.Client(replay_address), self.agent.sequence_length,
                                    self.agent.sequence_period,
                                    envs_per_item=self.agent.envs_per_item)
        self._client = VariableClient(named(variable_source),
                                      config.distributed.variable_update_period)
        self._counter = counter = named(counter)
        # The pid joins the seed so an actor started again does not repeat its actions.
        self._key = jax.random.PRNGKey(config.seed * 100_003 + 7919 * index + os.getpid())
        counter.increment.remote(actor_starts=1)

    def run(self) -> int:
        """Acts until the counter asks the actors to stop; returns the steps taken."""
        import ray

        observation = self.envs.reset()
        steps, unreported, returns, last_report = 0, 0, [], time.monotonic()
        reported = None
        while True:
            if reported is not None and ray.wait([reported], timeout=0)[0]:
                if ray.get(reported):  # the answer to the last report: stop?
                    break
                reported = None
            self._client.maybe_update()
            self._key, key = jax.random.split(self._key)
            out = jax.device_get(self.agent.act(self._client.variables, observation, key))
            step = self.envs.step(out["action"])
            self._adder.add({"features": observation["features"],
                             "action_mask": observation["action_mask"], **out,
                             "reward": step.reward, "discount": step.discount,
                             "done": step.done})
            observation, finished = step.observation, step.finished
            steps += 1
            unreported += self.envs.num_envs
            returns.extend(finished.tolist())
            if time.monotonic() - last_report >= REPORT_EVERY_S and reported is None:
                reported = self._report(unreported, returns)
                unreported, returns, last_report = 0, [], time.monotonic()
        self._report(unreported, returns)
        self._adder.close()
        return steps

    def _report(self, env_steps: int, returns: list[float]) -> Any:
        return self._counter.increment.remote(
            env_steps=env_steps, episodes=len(returns),
            return_sum=float(np.sum(returns)) if returns else 0.0)


__all__ = ["Actor", "VariableClient", "configure_process", "named"]
