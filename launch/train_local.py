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
The logic is `coachrl.cli.train` (`coachrl train`, the same with --workdir optional).
Ctrl-C (or SIGTERM) stops training after writing a checkpoint; --resume continues
from it.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

from coachrl.config import CONFIG_DIR

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
    """The flags -> `coachrl.cli.train.run_training` (the logic of `coachrl train`)."""
    del argv
    logging.set_verbosity(logging.WARNING)  # JAX's backend probing is noise here
    from coachrl.cli.common import UsageError
    from coachrl.cli.train import Interrupted, run_training

    address = FLAGS["address"].value if "address" in FLAGS else None  # train_cluster.py
    distributed = FLAGS.backend == "distributed" or address is not None
    if FLAGS.num_actors is not None and not distributed:
        fail("--num_actors needs --backend distributed")
    try:
        run_training(FLAGS.config, FLAGS.workdir, FLAGS.set, resume=FLAGS.resume,
                     backend=FLAGS.backend, num_actors=FLAGS.num_actors, address=address)
    except UsageError as error:
        fail(str(error))
    except Interrupted as stopped:
        print(stopped, file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    app.run(main)
