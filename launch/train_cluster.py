"""Trains a coach on a Ray cluster with the distributed trainer.

    ray start --head --port 6379                      # on the head node
    ray start --address HEAD_IP:6379                  # on every other node
    .venv/bin/python launch/train_cluster.py --address HEAD_IP:6379 --num_actors 32 \
        --config configs/ppo.yaml --workdir /shared/runs/ppo-dist [--resume] [--set k=v]

The same program as `launch/train_local.py --backend distributed`: each actor asks
Ray for one CPU, so actors spread over the nodes; the learner, replay server and
evaluator also run wherever Ray places them. --workdir must be a folder every
node can write (the learner writes checkpoints there, the driver writes logs).
`configs/cluster.yaml` is an example cluster for `ray up`; see the README.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_local  # noqa: E402  (the shared flags and main)

flags.DEFINE_string("address", None, "the Ray cluster: HEAD_IP:6379, or ray://HEAD_IP:10001")
flags.mark_flag_as_required("address")

if __name__ == "__main__":
    app.run(train_local.main)
