"""`coachrl train`: trains a coach on this machine (the jitted trainer or the distributed one).

Writes WORKDIR/config.yaml (the resolved config), logs.csv, tb/ (TensorBoard),
checkpoints/ and final_eval.json (held-out outcomes of the final coach). A WORKDIR that
already holds a run is refused unless --resume continues it. Ctrl-C (or SIGTERM) stops
training after writing a checkpoint (exit code 130). `launch/train_local.py` and
`launch/train_cluster.py` (a Ray cluster) are thin wrappers of `run_training`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from coachrl.cli.common import UsageError, default_workdir


class Interrupted(Exception):
    """Training stopped by Ctrl-C / SIGTERM after writing a checkpoint (exit code 130)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from coachrl.schema import CONFIG_DIR  # (coachrl.config would import JAX)

    parser.add_argument("--config", default=str(CONFIG_DIR / "ppo.yaml"),
                        help="training run file (YAML; default configs/ppo.yaml, "
                             "configs/mpo.yaml for MPO)")
    parser.add_argument("--workdir", default=None,
                        help=f"run folder: logs, checkpoints, final evaluation (default "
                             f"{default_workdir()}, where `coachrl today` looks first)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --workdir from its newest checkpoint")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key, e.g. "
                        "trainer.max_minutes=5 (repeatable)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="the training budget in minutes (= --set trainer.max_minutes=M)")
    parser.add_argument("--backend", choices=["anakin", "distributed"], default="anakin",
                        help="anakin: the jitted single-process trainer (default); "
                             "distributed: actors, Reverb and a learner on Ray")
    parser.add_argument("--num-actors", type=int, default=None,
                        help="distributed: actor processes (default: the config's "
                             "distributed.num_actors)")
    parser.add_argument("--address", default=None,
                        help="distributed: a Ray cluster (HEAD_IP:6379) instead of this machine")


def handle(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.minutes is not None:
        if args.minutes <= 0:
            raise UsageError(f"--minutes {args.minutes:g}: must be > 0")
        overrides.append(f"trainer.max_minutes={args.minutes:g}")
    try:
        run_training(args.config, args.workdir or default_workdir(), overrides,
                     resume=args.resume, backend=args.backend, num_actors=args.num_actors,
                     address=args.address)
    except Interrupted as stopped:
        print(stopped, file=sys.stderr)
        return 130
    return 0


def run_training(config_path: str, workdir: str | Path, overrides: Sequence[str] = (),
                 resume: bool = False, backend: str = "anakin", num_actors: int | None = None,
                 address: str | None = None, show_progress: bool | None = None):
    """Checks the flags, writes WORKDIR/config.yaml and trains; returns the trainer's result.

    Raises UsageError (bad config, unwritable or occupied WORKDIR, a run that cannot
    resume or start) and Interrupted (Ctrl-C)."""
    import yaml

    from coachrl.checkpoint import CheckpointError, latest_checkpoint, read_metadata
    from coachrl.config import ConfigError
    from coachrl.files import check_writable, write_atomic
    from coachrl.schema import to_dict
    from coachrl.training.config import load_train_config

    distributed = backend == "distributed" or address is not None
    if num_actors is not None and not distributed:
        raise UsageError("--num-actors needs --backend distributed")
    if num_actors is not None and num_actors < 1:
        raise UsageError(f"--num-actors {num_actors}: need at least 1 actor")
    try:
        config = load_train_config(config_path, list(overrides))
    except (ConfigError, OSError) as error:
        raise UsageError(f"bad config: {error}") from None
    workdir = Path(workdir)
    try:
        check_writable(workdir)
    except OSError as error:
        raise UsageError(f"--workdir {workdir}: cannot write there "
                         f"({error.strerror or error})") from None
    existing = latest_checkpoint(workdir)
    if existing is not None and not resume:
        step = read_metadata(existing).get("step")
        raise UsageError(f"--workdir {workdir} already holds a run (checkpoint at update "
                         f"{step}): pass --resume to continue it, or choose another --workdir")
    write_atomic(workdir / "config.yaml", yaml.safe_dump(to_dict(config), sort_keys=False))
    budget = (f"up to {config.trainer.total_env_steps:,} athlete-days"
              + (f" or {config.trainer.max_minutes:g} min" if config.trainer.max_minutes else ""))
    if distributed:
        return _run_distributed(config, workdir, address, budget, num_actors, resume)
    devices = ""
    if config.agent == "ppo":  # one XLA device per CPU core, for the pmapped PPO trainer
        from coachrl.devices import request_host_devices

        request_host_devices()  # before anything starts JAX's backend
        from coachrl.training.anakin_ppo import ppo_devices

        try:
            devices = f" on {ppo_devices(config)} device(s)"
        except ConfigError as error:
            raise UsageError(f"bad config: {error}") from None
    from coachrl.training.anakin import train

    print(f"training '{config.name}' ({config.agent}) in {workdir}: "
          f"{config.trainer.num_envs} athletes x {config.trainer.rollout_length} days per "
          f"update{devices}, {budget}", flush=True)
    try:
        result = train(config, workdir, resume=resume, show_progress=show_progress)
    except CheckpointError as error:
        raise UsageError(f"cannot resume: {error}") from None
    except KeyboardInterrupt:
        raise Interrupted(f"stopped; the newest checkpoint is {latest_checkpoint(workdir)} "
                          "(continue with --resume)") from None
    print(f"done: {result.env_steps:,} athlete-days, {result.updates} updates in "
          f"{result.seconds:.0f} s; checkpoint {result.checkpoint}", flush=True)
    return result


def _run_distributed(config, workdir: Path, address: str | None, budget: str,
                     num_actors: int | None, resume: bool):
    from coachrl.checkpoint import CheckpointError
    from coachrl.training.distributed.program import train_distributed

    actors = num_actors or config.distributed.num_actors
    where = f"the Ray cluster at {address}" if address else "this machine"
    print(f"training '{config.name}' ({config.agent}) in {workdir} on {where}: {actors} "
          f"actors x {config.distributed.envs_per_actor} athletes, a Reverb replay and a "
          f"learner, {budget}", flush=True)
    try:
        result = train_distributed(config, workdir, num_actors=actors, address=address,
                                   resume=resume)
    except CheckpointError as error:
        raise UsageError(f"cannot resume: {error}") from None
    except (ConnectionError, ValueError, FileExistsError) as error:
        raise UsageError(str(error)) from None
    except Exception as error:  # a node that could not start or failed: say which, briefly
        import ray

        if not isinstance(error, ray.exceptions.RayError):
            raise
        raise UsageError(f"the distributed run failed: {str(error).splitlines()[0]}") from None
    print(f"done: {result.env_steps:,} athlete-days, {result.learner_steps} learner steps in "
          f"{result.seconds:.0f} s ({result.actor_starts} actor starts); checkpoint "
          f"{result.checkpoint}", flush=True)
    return result


__all__ = ["Interrupted", "add_arguments", "handle", "run_training"]
