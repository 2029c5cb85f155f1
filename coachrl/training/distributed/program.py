"""The distributed program on Ray: replay, learner, actors, evaluator and counter.

    result = train_distributed(config, "runs/dist", num_actors=4)              # this machine
    result = train_distributed(config, "runs/dist", address="ray://head:10001")  # a cluster

Each node is a Ray actor. Actors and the learner are started with unlimited
restarts and task retries: an actor process that dies is started again and goes
on acting; a learner that dies is started again from its newest checkpoint. The
driver (this function) logs the counter every `log_every_s` (CSV, TensorBoard and
a status line), asks the evaluator for held-out scores every `eval_every_s`, and
stops at the step budget, the time budget, Ctrl-C or SIGTERM: the learner writes a
final checkpoint, every node is killed and, for a local run, Ray is shut down, so
no process outlives the run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

from coachrl.checkpoint import latest_checkpoint
from coachrl.files import write_atomic
from coachrl.loggers import Logger, make_default_logger
from coachrl.training.common import EVAL_METRICS, evaluate_policy
from coachrl.training.config import TrainConfig
from coachrl.training.distributed.actor import Actor, configure_process, named
from coachrl.training.distributed.counter import Counter
from coachrl.training.distributed.environments import WorldBatch
from coachrl.training.distributed.learner import Learner, ReplayLost
from coachrl.training.distributed.replay import ReplayServer

STOP_TIMEOUT_S = 120.0  # how long the learner may take to write its final checkpoint
ACTOR_STOP_TIMEOUT_S = 10.0  # how long actors may take to stop before they are killed


class StaticVariables:
    """A variable source that never changes (actors without a learner, for benchmarks)."""

    def __init__(self, config: TrainConfig, nvec: tuple[int, ...], num_features: int,
                 envs_per_actor: int):
        import jax

        from coachrl.training.distributed.agents import make_distributed_agent

        agent = make_distributed_agent(config, nvec, num_features, envs_per_actor)
        state = agent.init_training(jax.random.PRNGKey(config.seed))
        self._variables = {"version": (0, 0), "steps": 0,
                           "variables": jax.device_get(agent.variables(state))}

    def get_variables(self, known_version: Any = None) -> dict[str, Any] | None:
        return None if known_version == self._variables["version"] else self._variables


class Evaluator:
    """Scores the learner's current parameters on held-out athletes (the evaluation harness)."""

    def __init__(self, config: TrainConfig, variable_source: str, nvec: tuple[int, ...],
                 num_features: int, envs_per_actor: int):
        from coachrl.training.distributed.agents import make_distributed_agent

        configure_process()
        self.config, self._source = config, named(variable_source)
        self.agent = make_distributed_agent(config, nvec, num_features, envs_per_actor)

    def evaluate(self) -> dict[str, float]:
        got = ray.get(self._source.get_variables.remote())
        result = evaluate_policy(self.config, self.agent.policy(got["variables"]))
        return {"learner_steps": float(got["steps"]), **result}


def world_envs(config: TrainConfig, num_envs: int, index: int) -> WorldBatch:
    """Actor `index`'s athletes: its own stream of training athletes (the process id joins
    the seed, so an actor started again, or a resumed run, meets new athletes)."""
    return WorldBatch(config, num_envs, seed=config.seed * 1000 + index + 1 + 7919 * os.getpid())


@dataclasses.dataclass
class DistributedResult:
    env_steps: int
    learner_steps: int
    seconds: float
    actor_starts: int
    samples_per_insert: float  # observed: transitions sampled / transitions inserted
    last_eval: dict[str, float]
    checkpoint: Path | None
    log: list[dict[str, float]]  # every status row


class _StopSignal:
    """SIGTERM (and SIGINT) set a flag the driver loop checks, instead of killing it."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals stay as they are
                pass
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received = signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Raises ConnectionError unless something listens at `address` ([ray://]HOST:PORT);
    Ray itself would retry for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        if address == "auto":
            return
        raise ConnectionError(f"--address {address!r}: expected HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConnectionError(f"--address {address}: no Ray head answers there ({error}); "
                              "start one with `ray start --head`") from None


def init_ray(address: str | None, num_actors: int) -> bool:
    """Connects to the cluster at `address`, or starts Ray on this machine (returns True)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no reports to Ray's servers
    if ray.is_initialized():
        return False
    if address:
        check_reachable(address)
        # `ray start --head` (Ray 2.59+) turns on token authentication when ~/.ray/auth_token
        # exists, but a client connecting by address does not send it unless told to
        # (ray-project/ray#64755): send it whenever it is there.
        if "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").exists():
            os.environ["RAY_AUTH_MODE"] = "token"
        ray.init(address=address, log_to_driver=True)
        return False
    # address="local": a Ray of its own, even where a stale /tmp/ray/ray_current_cluster
    # (left by an earlier cluster) would make ray.init try to join that one.
    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, num_actors + 2),
             include_dashboard=False,
             object_store_memory=256 * 1024 ** 2, log_to_driver=True,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}})
    return True


def train_distributed(config: TrainConfig, workdir: str | Path, *,
                      num_actors: int | None = None, address: str | None = None,
                      resume: bool = False, make_envs: Callable[[int], Any] | None = None,
                      consume: bool = True, evaluate_at_end: bool = True,
                      max_seconds: float | None = None, logger: Logger | None = None,
                      verbose: bool = True,
                      stop_when: Callable[[list[dict[str, float]]], bool] | None = None
                      ) -> DistributedResult:
    """Trains `config`'s agent with `num_actors` actor processes (default: the config's).

    `make_envs(index)` builds actor `index`'s batch of environments (default: the
    athlete world, `distributed.envs_per_actor` athletes each; any `DmEnvBatch`
    works, e.g. bsuite). `consume=False` runs the actors into a never-blocking table
    with fixed parameters and no learner (the actors' own throughput). Stops at
    `trainer.total_env_steps`, `trainer.max_minutes` (or `max_seconds`), a signal, or
    when `stop_when(log rows so far)` says so.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dist = config.distributed
    num_actors = num_actors or dist.num_actors
    if consume and not resume and latest_checkpoint(workdir) is not None:
        raise FileExistsError(f"{workdir} already holds a run: resume it or choose another")
    on_world = make_envs is None  # held-out evaluation needs the athlete world
    make_envs = make_envs or functools.partial(world_envs, config, dist.envs_per_actor)
    started_ray = init_ray(address, num_actors)  # before JAX starts threads in this process
    cpus = 1 if address else 0  # on a cluster, one CPU per actor spreads them over nodes
    handles: list[Any] = []
    logger = logger or make_default_logger(workdir)
    log: list[dict[str, float]] = []
    stop = _StopSignal().__enter__()  # from here on Ctrl-C / SIGTERM stop the run cleanly
    learner_run = None
    try:
        probe = make_envs(0)  # the action and feature sizes every node builds its agent with
        shape = (tuple(probe.nvec), probe.num_features, probe.num_envs)
        del probe
        _check_here(config, workdir, shape, resume and consume)
        # Nodes find each other by these names (`actor.named`): nothing a restarted node
        # needs lives only in Ray's object store.
        names = {k: f"coachrl-{k}-{uuid.uuid4().hex[:12]}" for k in ("counter", "source")}
        counter = ray.remote(Counter).options(num_cpus=0, name=names["counter"],
                                              **_placed(dist.learner_resource)).remote()
        replay = ray.remote(ReplayServer).options(
            num_cpus=0, **_placed(dist.replay_resource)).remote(config, sink=not consume)
        handles += [counter, replay]
        replay_address = ray.get(replay.address.remote())
        if consume:
            source = ray.remote(Learner).options(
                num_cpus=cpus, max_concurrency=num_actors + 4, max_restarts=-1,
                max_task_retries=-1, name=names["source"], num_gpus=dist.learner_gpus,
                **_placed(dist.learner_resource)
            ).remote(config, str(workdir), replay_address, names["counter"], *shape)
        else:
            source = ray.remote(StaticVariables).options(
                num_cpus=0, name=names["source"]).remote(config, *shape)
        handles.append(source)
        learner_run = source.run.remote() if consume else None
        actors = [ray.remote(Actor).options(num_cpus=cpus, max_restarts=-1, max_task_retries=-1,
                                            **_placed(dist.actor_resource)).remote(
            config, make_envs, i, replay_address, names["source"], names["counter"])
            for i in range(num_actors)]
        handles += actors
        actor_runs = [actor.run.remote() for actor in actors]
        evaluator = None
        if on_world and consume and (dist.eval_every_s or evaluate_at_end):
            evaluator = ray.remote(Evaluator).options(
                num_cpus=0, **_placed(dist.learner_resource)).remote(
                config, names["source"], *shape)
            handles.append(evaluator)
        if consume and verbose:
            restored = ray.get(source.status.remote())["restored_from"]
            print(f"resumed from learner step {restored}" if restored is not None else
                  ("no checkpoint: starting afresh" if resume else "learner started"), flush=True)
        log = _supervise(config, counter, replay, source if consume else None, learner_run,
                         actor_runs, evaluator, stop, logger, max_seconds, verbose, stop_when)
        counter.request_stop.remote()  # actors end their loops at their next report
        ray.wait(actor_runs, num_returns=len(actor_runs), timeout=ACTOR_STOP_TIMEOUT_S)
        if consume:
            _final_checkpoint(source, learner_run)
            learner_run = None
        last_eval = {}
        if evaluate_at_end and evaluator is not None:
            last_eval = ray.get(evaluator.evaluate.remote())
            write_atomic(workdir / "final_eval.json", json.dumps(last_eval, indent=2))
        counts = ray.get(counter.get.remote())
        inserted = ray.get(replay.info.remote())
        return DistributedResult(
            env_steps=int(counts.get("env_steps", 0)),
            learner_steps=int(ray.get(source.steps.remote())) if consume else 0,
            seconds=log[-1]["seconds"] if log else 0.0,
            actor_starts=int(counts.get("actor_starts", 0)),
            samples_per_insert=_samples_per_insert(inserted),
            last_eval=last_eval, checkpoint=latest_checkpoint(workdir) if consume else None,
            log=log)
    finally:
        if learner_run is not None:  # a failure: keep what the learner has learned
            _final_checkpoint(source, learner_run)
        stop.__exit__()
        logger.close()
        for handle in handles:
            ray.kill(handle, no_restart=True)
        if started_ray:
            ray.shutdown()


LABEL_SHARE = 0.01  # of a node label each node asks: the label places, CPUs and GPUs count


def _placed(resource: str | None) -> dict[str, Any]:
    """Ray options asking a share of the custom resource (a node label), if any."""
    return {"resources": {resource: LABEL_SHARE}} if resource else {}


def _check_here(config: TrainConfig, workdir: Path, shape: tuple, resume: bool) -> None:
    """Errors the nodes would meet at start-up, raised here with their own message
    (a node that fails to start reaches the driver only as a dead actor)."""
    import jax

    from coachrl.training.checkpoints import restore_training
    from coachrl.training.distributed.agents import make_distributed_agent

    agent = make_distributed_agent(config, *shape)  # ValueError on a bad batch split
    if resume:  # CheckpointError on a checkpoint of other features, actions or networks
        restore_training(workdir, jax.eval_shape(agent.init_training, jax.random.PRNGKey(0)),
                         config)


def _final_checkpoint(learner: Any, learner_run: Any) -> None:
    """Asks the learner to stop and waits for its final checkpoint."""
    try:
        learner.stop.remote()
        ray.get(learner_run, timeout=STOP_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        print(f"warning: the learner wrote no final checkpoint within {STOP_TIMEOUT_S:.0f} s; "
              "the newest periodic one stands", flush=True)
    except ray.exceptions.RayTaskError as error:
        if not isinstance(error.cause, ReplayLost):  # that one wrote its final checkpoint
            print(f"warning: the learner failed: {error}", flush=True)
    except ray.exceptions.RayError as error:
        print(f"warning: the learner failed before its final checkpoint: {error}", flush=True)


def _samples_per_insert(info: dict[str, Any]) -> float:
    table = next(iter(info.values()))
    return table["samples"] / table["inserts"] if table["inserts"] else math.nan


def _supervise(config: TrainConfig, counter: Any, replay: Any, learner: Any, learner_run: Any,
               actor_runs: list[Any], evaluator: Any, stop: _StopSignal, logger: Logger,
               max_seconds: float | None, verbose: bool,
               stop_when: Callable[[list[dict[str, float]]], bool] | None
               ) -> list[dict[str, float]]:
    """The driver loop: log, evaluate, watch for failures, until a stop condition."""
    dist, trainer = config.distributed, config.trainer
    budget = max_seconds if max_seconds is not None else (
        trainer.max_minutes * 60.0 if trainer.max_minutes else math.inf)
    start = time.monotonic()
    first = ray.get(counter.get.remote())
    steps_before = int(first.get("env_steps", 0))
    previous, previous_t = first, start
    next_log = start + dist.log_every_s
    next_eval = start if dist.eval_every_s else math.inf  # the first: the starting policy
    pending_eval = None
    log: list[dict[str, float]] = []
    while True:
        watched = [r for r in [learner_run, *actor_runs] if r is not None]
        done, _ = ray.wait(watched, timeout=0.2)
        for ref in done:  # a run that ends by itself failed (crashes are retried by Ray)
            try:
                ray.get(ref)  # raises the node's own error, if it had one
            except ray.exceptions.RayTaskError as error:
                if isinstance(error.cause, ReplayLost):
                    raise RuntimeError(f"stopped: {error.cause}; resume with --resume once "
                                       "a replay server can start") from None
                raise
            node = "the learner" if ref is learner_run else f"actor {actor_runs.index(ref)}"
            raise RuntimeError(f"{node} stopped unexpectedly")
        now = time.monotonic()
        evaluation = {f"eval_{name}": math.nan for name in EVAL_METRICS} \
            if evaluator is not None else {}
        if pending_eval is not None and ray.wait([pending_eval], timeout=0)[0]:
            result = ray.get(pending_eval)
            pending_eval = None
            evaluation = {k: v for k, v in result.items() if k in evaluation}
            if verbose:
                print(f"held-out gain {result['eval_gain_pct']:+.2f} % after "
                      f"{result['learner_steps']:.0f} learner steps", flush=True)
        if evaluator is not None and learner is not None and now >= next_eval \
                and pending_eval is None:
            pending_eval = evaluator.evaluate.remote()
            next_eval = now + dist.eval_every_s
        counts = ray.get(counter.get.remote())
        env_steps = int(counts.get("env_steps", 0))
        finished = env_steps >= trainer.total_env_steps or now - start >= budget \
            or stop.received is not None
        if now >= next_log or finished or not math.isnan(
                evaluation.get("eval_gain_pct", math.nan)):
            row = {**_status_row(counts, previous, now - previous_t, now - start, env_steps,
                                 steps_before, replay, learner), **evaluation}
            log.append(row)
            logger.write(env_steps, row)
            if verbose:
                print(_status_line(row), flush=True)
            previous, previous_t, next_log = counts, now, now + dist.log_every_s
            finished = finished or (stop_when is not None and stop_when(log))
        if finished:
            if verbose and stop.received:
                print(f"{stop.received}: stopping every node (final checkpoint first)",
                      flush=True)
            return log


def _status_row(counts: dict[str, float], previous: dict[str, float], interval: float,
                elapsed: float, env_steps: int, steps_before: int, replay: Any,
                learner: Any) -> dict[str, float]:
    def rate(key: str) -> float:
        return (counts.get(key, 0.0) - previous.get(key, 0.0)) / max(interval, 1e-9)

    episodes = counts.get("episodes", 0.0) - previous.get("episodes", 0.0)
    returns = counts.get("return_sum", 0.0) - previous.get("return_sum", 0.0)
    try:
        info = next(iter(ray.get(replay.info.remote()).values()))
    except ray.exceptions.RayActorError as error:
        why = str(error).splitlines()[0]
        raise RuntimeError(f"stopped: the replay server was lost (its node died?): {why}; "
                           "the learner writes a final checkpoint, resume with --resume") \
            from None
    row = {"env_steps": float(env_steps), "seconds": elapsed,
           "env_steps_per_s": rate("env_steps"),
           "env_steps_per_s_run": (env_steps - steps_before) / max(elapsed, 1e-9),
           "learner_steps": counts.get("learner_steps", 0.0),  # this run's (see below)
           "learner_steps_per_s": rate("learner_steps"),
           "episodes": counts.get("episodes", 0.0),
           "episode_return": returns / episodes if episodes else math.nan,
           "actor_starts": counts.get("actor_starts", 0.0),
           "replay_size": float(info["size"]),
           "samples_per_insert": info["samples"] / info["inserts"] if info["inserts"]
           else math.nan}
    if learner is not None:
        status = ray.get(learner.status.remote())
        row["learner_steps"] = float(status["steps"])  # counting those before a restore
        row.update({f"learner_{k}": v for k, v in status["metrics"].items()})
    return row


def _status_line(row: dict[str, float]) -> str:
    return (f"[{row['seconds']:6.0f} s] {row['env_steps']:,.0f} env steps "
            f"({row['env_steps_per_s']:,.0f}/s), {row['learner_steps']:,.0f} learner steps "
            f"({row['learner_steps_per_s']:.1f}/s), return {row['episode_return']:.3f}, "
            f"replay {row['replay_size']:.0f}, actor starts {row['actor_starts']:.0f}")


__all__ = ["DistributedResult", "Evaluator", "init_ray", "train_distributed",
           "world_envs"]
