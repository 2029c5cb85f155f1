"""Trains a coach on this machine: the jitted (Anakin) trainer, or the distributed one.

    .venv/bin/python launch/train_local.py --config configs/ppo.yaml --workdir runs/ppo \
        [--resume] [--set trainer.max_minutes=5 ...]
    .venv/bin/python launch/train_local.py --backend distributed --num_actors 4 \
        --config configs/ppo.yaml --workdir runs/ppo-dist

--backend distributed starts Ray on this machine (replay server, learner, actor
processes, evaluator; coachrl/training/distributed); launch/train_cluster.py runs
the same program on a Ray cluster.

Writes WORKDIR/config.yaml (the resolved config), logs.csv, tb/ (TensorBoard),
checkpoints/ and final_eval.json (held-out outcomes of the final coach).
Compare it with the baselines: scripts/evaluate.py --checkpoint WORKDIR --out DIR.
Ctrl-C (or SIGTERM) stops training after writing a checkpoint; --resume continues
from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from absl import app, flags, logging

from coachrl.checkpoint import CheckpointError, latest_checkpoint, read_metadata
from coachrl.config import CONFIG_DIR, ConfigError
from coachrl.files import check_writable, write_atomic
from coachrl.schema import to_dict

FLAGS = flags.FLAGS
flags.DEFINE_string("config", str(CONFIG_DIR / "ppo.yaml"), "training run file (YAML)")
flags.DEFINE_string("workdir", None, "run folder: logs, checkpoints, final evaluation")
flags.DEFINE_bool("resume", False, "continue the run in --workdir from its newest checkpoint")
flags.DEFINE_multi_string("set", [], "override a config key: section.key=value (repeatable)")
flags.DEFINE_enum("backend", "anakin", ["anakin", "distributed"],
                  "anakin: the jitted single-process trainer; distributed: actors, Reverb "
                  "and a learner on Ray")
flags.DEFINE_integer("num_actors", None, "distributed: actor processes (default: the "
                     "config's distributed.num_actors)", lower_bound=1)
flags.mark_flag_as_required("workdir")


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str]) -> None:
    del argv
    logging.set_verbosity(logging.WARNING)  # JAX's backend probing is noise here
    from coachrl.training.config import load_train_config

    address = FLAGS["address"].value if "address" in FLAGS else None  # train_cluster.py
    distributed = FLAGS.backend == "distributed" or address is not None
    if FLAGS.num_actors is not None and not distributed:
        fail("--num_actors needs --backend distributed")

    try:
        config = load_train_config(FLAGS.config, FLAGS.set)
    except ConfigError as error:
        fail(f"bad config: {error}")
    workdir = Path(FLAGS.workdir)
    try:
        check_writable(workdir)
    except OSError as error:
        fail(f"--workdir {workdir}: cannot write there ({error.strerror or error})")
    existing = latest_checkpoint(workdir)
    if existing is not None and not FLAGS.resume:
        step = read_metadata(existing).get("step")
        fail(f"--workdir {workdir} already holds a run (checkpoint at update {step}): "
             "pass --resume to continue it, or choose another --workdir")
    write_atomic(workdir / "config.yaml", yaml.safe_dump(to_dict(config), sort_keys=False))
    budget = (f"up to {config.trainer.total_env_steps:,} athlete-days"
              + (f" or {config.trainer.max_minutes:g} min" if config.trainer.max_minutes else ""))
    if distributed:
        run_distributed(config, workdir, address, budget)
        return
    from coachrl.training.anakin import train

    print(f"training '{config.name}' ({config.agent}) in {workdir}: "
          f"{config.trainer.num_envs} athletes x {config.trainer.rollout_length} days per "
          f"update, {budget}", flush=True)
    try:
        result = train(config, workdir, resume=FLAGS.resume)
    except CheckpointError as error:
        fail(f"cannot resume: {error}")
    except KeyboardInterrupt:
        print(f"stopped; the newest checkpoint is {latest_checkpoint(workdir)} "
              "(continue with --resume)", file=sys.stderr)
        sys.exit(130)
    print(f"done: {result.env_steps:,} athlete-days, {result.updates} updates in "
          f"{result.seconds:.0f} s; checkpoint {result.checkpoint}", flush=True)


def run_distributed(config, workdir: Path, address: str | None, budget: str) -> None:
    from coachrl.training.distributed.program import train_distributed

    actors = FLAGS.num_actors or config.distributed.num_actors
    where = f"the Ray cluster at {address}" if address else "this machine"
    print(f"training '{config.name}' ({config.agent}) in {workdir} on {where}: {actors} "
          f"actors x {config.distributed.envs_per_actor} athletes, a Reverb replay and a "
          f"learner, {budget}", flush=True)
    try:
        result = train_distributed(config, workdir, num_actors=actors, address=address,
                                   resume=FLAGS.resume)
    except CheckpointError as error:
        fail(f"cannot resume: {error}")
    except (ConnectionError, ValueError, FileExistsError) as error:
        fail(str(error))
    except Exception as error:  # a node that could not start or failed: say which, briefly
        import ray

        if not isinstance(error, ray.exceptions.RayError):
            raise
        fail(f"the distributed run failed: {str(error).splitlines()[0]}")
    print(f"done: {result.env_steps:,} athlete-days, {result.learner_steps} learner steps in "
          f"{result.seconds:.0f} s ({result.actor_starts} actor starts); checkpoint "
          f"{result.checkpoint}", flush=True)


if __name__ == "__main__":
    app.run(main)
