"""The distributed trainer on a real multi-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`: one raylet per node, as Ray's own tests run them): nodes
placed by resource labels, a lost actor node, a lost replay node. Slow-marked.

Each scenario runs in a fresh Python process (`python tests/test_cluster.py SCENARIO
WORKDIR` prints its figures as JSON): Ray reads its authentication mode once per process,
and these nodes run without it, whatever ~/.ray holds and whatever ran before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["trainer.rollout_length=8", "distributed.envs_per_actor=8", "distributed.log_every_s=1",
        "distributed.checkpoint_every_s=3", "ppo.num_minibatches=2", "ppo.hidden_sizes=[16,16]",
        "trainer.total_env_steps=1000000000", "trainer.max_minutes=0",
        "distributed.learner_resource=learner", "distributed.actor_resource=actor",
        "distributed.replay_resource=replay"]


def _cluster():
    """4 nodes: a head labelled `learner` (1 CPU), a `replay` node, two `actor` nodes."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"learner": 1}})
    nodes = {"replay": cluster.add_node(num_cpus=1, resources={"replay": 1}),
             "actors_a": cluster.add_node(num_cpus=2, resources={"actor": 2}),
             "actors_b": cluster.add_node(num_cpus=2, resources={"actor": 2})}
    cluster.wait_for_nodes()
    return cluster, nodes


def _nodes_of(class_name: str) -> list[str]:
    from ray.util.state import list_actors

    return sorted({a.node_id for a in list_actors(filters=[("class_name", "=", class_name),
                                                            ("state", "=", "ALIVE")])})


def actor_node_loss(workdir: Path) -> dict:
    """Trains; once the learner passes step 100 the node of an actor is removed; stops when
    the learner is 20 steps further and an actor was started again."""
    from coachrl.checkpoint import latest_checkpoint, read_metadata
    from coachrl.training.config import load_train_config
    from coachrl.training.distributed.program import train_distributed

    cluster, nodes = _cluster()
    seen: dict = {}

    def stop_when(log):
        steps = log[-1]["learner_steps"]
        if "lost" not in seen and steps > 100:
            seen["placed"] = {c: _nodes_of(c) for c in ("Actor", "Learner", "ReplayServer")}
            lost = next(n for n in ("actors_a", "actors_b")
                        if nodes[n].node_id in seen["placed"]["Actor"])
            before = latest_checkpoint(workdir)
            seen.update(lost=lost, steps_at_loss=steps, row=len(log),
                        checkpointed=read_metadata(before)["step"] if before else 0)
            cluster.remove_node(nodes[lost])
        return "lost" in seen and steps > seen["steps_at_loss"] + 20 \
            and log[-1]["actor_starts"] > 2

    config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY)
    result = train_distributed(config, workdir, num_actors=2, address=cluster.address,
                               evaluate_at_end=False, verbose=False, stop_when=stop_when,
                               max_seconds=240)
    rates = [r["env_steps_per_s"] for r in result.log]
    final = latest_checkpoint(workdir)
    return {**seen, "ids": {"head": cluster.head_node.node_id,
                            **{k: n.node_id for k, n in nodes.items()}},
            "learner_steps": result.learner_steps, "actor_starts": result.actor_starts,
            "seconds": result.seconds, "rate_before": max(rates[:seen["row"]]),
            "rate_after": max(rates[seen["row"]:]),
            "final_step": read_metadata(final)["step"] if final else None}


def replay_node_loss(workdir: Path) -> dict:
    """Trains; once the learner passes step 10 the replay server's node is removed."""
    from coachrl.checkpoint import latest_checkpoint, read_metadata
    from coachrl.training.config import load_train_config
    from coachrl.training.distributed.program import train_distributed

    cluster, nodes = _cluster()
    seen: dict = {}

    def stop_when(log):
        if "lost" not in seen and log[-1]["learner_steps"] > 10:
            seen["lost"] = log[-1]["learner_steps"]
            cluster.remove_node(nodes["replay"])
        return False

    config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY)
    try:
        train_distributed(config, workdir, num_actors=2, address=cluster.address,
                          evaluate_at_end=False, verbose=False, stop_when=stop_when,
                          max_seconds=240)
        error = None
    except RuntimeError as stopped:
        error = str(stopped)
    final = latest_checkpoint(workdir)
    return {**seen, "error": error,
            "final_step": read_metadata(final)["step"] if final else None}


def run_scenario(name: str, workdir: Path) -> dict:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "JAX_PLATFORMS": "cpu",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, __file__, name, str(workdir)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=420)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_losing_an_actor_node_restarts_its_actors_elsewhere(tmp_path):
    out = run_scenario("actor_node_loss", tmp_path / "run")
    ids, placed = out["ids"], out["placed"]
    # The labels placed every node: the learner on the head, replay on its own node.
    assert placed["Learner"] == [ids["head"]] and placed["ReplayServer"] == [ids["replay"]]
    assert set(placed["Actor"]) <= {ids["actors_a"], ids["actors_b"]}
    # The lost node's actors were started again on the remaining one, and learning went on.
    assert out["actor_starts"] > 2 and out["learner_steps"] > out["steps_at_loss"] + 20
    # Nothing checkpointed was lost: the final checkpoint holds the last step.
    assert out["final_step"] == out["learner_steps"] >= out["checkpointed"]
    print(f"\nactor node lost at learner step {out['steps_at_loss']:.0f} (actors on "
          f"{len(placed['Actor'])} node(s)); env steps/s before {out['rate_before']:,.0f}, "
          f"after {out['rate_after']:,.0f}; {out['learner_steps']} learner steps, "
          f"{out['actor_starts']} actor starts, {out['seconds']:.0f} s")


@pytest.mark.slow
def test_losing_the_replay_node_stops_with_a_clear_message_and_a_checkpoint(tmp_path):
    out = run_scenario("replay_node_loss", tmp_path / "run")
    assert out["error"] is not None and out["error"].startswith("stopped: ")
    assert "replay server" in out["error"] and "--resume" in out["error"]
    assert out["final_step"] is not None and out["final_step"] >= out["lost"]
    print(f"\nreplay node lost at learner step {out['lost']:.0f}: {out['error']}; final "
          f"checkpoint at step {out['final_step']}")


if __name__ == "__main__":
    import ray

    scenario = {"actor_node_loss": actor_node_loss, "replay_node_loss": replay_node_loss}
    try:
        figures = scenario[sys.argv[1]](Path(sys.argv[2]))
    finally:
        ray.shutdown()
    print(json.dumps(figures))
