"""The learner: samples Reverb, applies the pure update, serves parameters, checkpoints.

    learner = Learner(config, workdir, replay_address, counter_name, nvec, num_features, E)
    learner.run()            # in one thread, until stop()
    learner.get_variables()  # from actors and the evaluator, in others

It always starts from the newest checkpoint in `workdir` when there is one: a
learner that Ray restarts after a crash, or a run started again with --resume,
continues from the checkpoint's step (the program refuses a non-empty workdir
without --resume). Checkpoints are the jitted trainer's (`save_training`), so
`load_coach`, `scripts/evaluate.py --checkpoint` and the daily coach read them.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import jax

from coachrl.training.checkpoints import restore_training, save_training
from coachrl.training.config import TrainConfig
from coachrl.training.distributed.actor import configure_process, named
from coachrl.training.distributed.agents import example_columns, make_distributed_agent
from coachrl.training.distributed.replay import Sampler

WAIT_S = 0.5  # how long one wait for a batch lasts before the stop flag is checked again


class ReplayLost(RuntimeError):
    """The learner's replay server went away (its node was lost)."""


class Learner:
    def __init__(self, config: TrainConfig, workdir: str, replay_address: str, counter: str,
                 nvec: tuple[int, ...], num_features: int, envs_per_actor: int):
        configure_process()
        counter = named(counter)  # the counter node, by name
        self.config, self.workdir, self._counter = config, Path(workdir), counter
        self.agent = make_distributed_agent(config, nvec, num_features, envs_per_actor)
        state = self.agent.init_training(jax.random.PRNGKey(config.seed))
        self.restored_from: int | None = None
        restored = restore_training(self.workdir, state, config)
        self._seconds_before = 0.0
        if restored is not None:
            state, counters = restored
            self.restored_from = int(counters["updates"])
            self._seconds_before = float(counters.get("seconds", 0.0))
            import ray

            ray.get(counter.at_least.remote(env_steps=int(counters["env_steps"])))
        self.state = state
        # Versions are (this incarnation, steps): a learner started again from an older
        # checkpoint never hands out a version an actor already holds.
        self._incarnation = time.time_ns()
        self._lock = threading.Lock()
        self._publish()
        example = example_columns(self.agent, nvec, num_features)
        one_window = {k: v[:, :self.agent.envs_per_item] for k, v in example.items()}
        self._sampler = Sampler(replay_address, one_window, self.agent.items_per_batch)
        self._stop = threading.Event()
        _, shapes = jax.eval_shape(self.agent.learn, state, self.agent.to_batch(example))
        self.metrics: dict[str, float] = {k: math.nan for k in shapes}  # names known upfront
        self._start = time.monotonic()

    def _publish(self) -> None:
        variables = jax.device_get(self.agent.variables(self.state))
        steps = int(self.state.steps)
        with self._lock:
            self._variables = {"version": (self._incarnation, steps), "steps": steps,
                               "variables": variables}

    def get_variables(self, known_version: Any = None) -> dict[str, Any] | None:
        """The newest parameters, or None if the caller has them (`known_version`)."""
        with self._lock:
            return None if self._variables["version"] == known_version else self._variables

    def steps(self) -> int:
        return int(self.state.steps)

    def step(self) -> bool:
        """One update if a batch arrives within WAIT_S; returns whether it did. ReplayLost
        when the replay server cannot be reached any more."""
        try:
            columns = self._sampler.get(WAIT_S)
        except RuntimeError as error:
            raise ReplayLost(f"the replay server is gone ({error}); the learner wrote a "
                             f"final checkpoint at step {self.steps()}") from None
        if columns is None:
            return False
        self.state, metrics = self.agent.learn(self.state, self.agent.to_batch(columns))
        self.metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        self._publish()
        return True

    def checkpoint(self) -> Path:
        import ray

        counts = ray.get(self._counter.get.remote())
        return save_training(self.workdir, self.state, self.config, {
            "env_steps": int(counts.get("env_steps", 0)), "updates": self.steps(),
            "seconds": self._seconds_before + time.monotonic() - self._start})

    def run(self) -> int:
        """Learns until `stop()` or the counter's stop request (which also reaches a learner
        Ray started again), checkpointing every checkpoint_every_s and at the end."""
        import ray

        period = self.config.distributed.checkpoint_every_s
        next_checkpoint, next_poll = time.monotonic() + period, time.monotonic() + 1.0
        while not self._stop.is_set():
            try:
                learned = self.step()
            except ReplayLost:
                self.checkpoint()  # what was learned is kept; the driver reports the loss
                raise
            if learned:
                self._counter.increment.remote(learner_steps=1)
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + 1.0
                if ray.get(self._counter.stop_requested.remote()):
                    break
            if now >= next_checkpoint:
                self.checkpoint()
                next_checkpoint = time.monotonic() + period
        self.checkpoint()
        return self.steps()

    def stop(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        return {"steps": self.steps(), "metrics": dict(self.metrics),
                "restored_from": self.restored_from}


__all__ = ["Learner", "ReplayLost"]
