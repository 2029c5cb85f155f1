"""The distributed trainer on a real multi-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`: one raylet per node, as Ray's own tests run them): nodes
placed by resource labels, a lost actor node, a lost replay node. Slow-marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachrl.checkpoint import latest_checkpoint, read_metadata
from coachrl.training.config import load_train_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ["trainer.rollout_length=8", "distributed.envs_per_actor=8", "distributed.log_every_s=1",
        "distributed.checkpoint_every_s=3", "ppo.num_minibatches=2", "ppo.hidden_sizes=[16,16]",
        "trainer.total_env_steps=1000000000", "trainer.max_minutes=0",
        "distributed.learner_resource=learner", "distributed.actor_resource=actor",
        "distributed.replay_resource=replay"]

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(monkeypatch):
    import ray
    from ray.cluster_utils import Cluster

    # These nodes run without Ray's token authentication, whatever ~/.ray holds.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"learner": 1}})
    nodes = {"replay": cluster.add_node(num_cpus=1, resources={"replay": 1}),
             "actors_a": cluster.add_node(num_cpus=2, resources={"actor": 2}),
             "actors_b": cluster.add_node(num_cpus=2, resources={"actor": 2})}
    cluster.wait_for_nodes()
    yield cluster, nodes
    ray.shutdown()
    cluster.shutdown()


def _node_of(class_name: str) -> set[str]:
    from ray.util.state import list_actors

    return {a.node_id for a in list_actors(filters=[("class_name", "=", class_name),
                                                     ("state", "=", "ALIVE")])}


def test_losing_an_actor_node_restarts_its_actors_elsewhere(cluster, tmp_path):
    from coachrl.training.distributed.program import train_distributed

    cluster, nodes = cluster
    config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY)
    seen: dict = {}

    def stop_when(log):
        steps = log[-1]["learner_steps"]
        if "placed" not in seen and steps > 100:
            seen["placed"] = {c: _node_of(c) for c in ("Actor", "Learner", "ReplayServer")}
            lost = next(n for n in ("actors_a", "actors_b")
                        if nodes[n].node_id in seen["placed"]["Actor"])
            seen["lost"], seen["steps_at_loss"], seen["row"] = lost, steps, len(log)
            before = latest_checkpoint(tmp_path / "run")
            seen["checkpointed"] = read_metadata(before)["step"] if before else 0
            cluster.remove_node(nodes[lost])
        return "lost" in seen and steps > seen["steps_at_loss"] + 20 \
            and log[-1]["actor_starts"] > 2

    result = train_distributed(config, tmp_path / "run", num_actors=2, address=cluster.address,
                               evaluate_at_end=False, verbose=False, stop_when=stop_when,
                               max_seconds=240)
    placed = seen["placed"]
    rate = [r["env_steps_per_s"] for r in result.log]
    print(f"\nactor node lost at learner step {seen['steps_at_loss']:.0f}; actors before: "
          f"{len(placed['Actor'])} node(s); env steps/s before {max(rate[:seen['row']]):,.0f}, "
          f"after {max(rate[seen['row']:]):,.0f}; {result.learner_steps} learner steps, "
          f"{result.actor_starts} actor starts, {result.seconds:.0f} s")
    # The labels placed every node: the learner on the head, replay on its own node.
    assert placed["Learner"] == {cluster.head_node.node_id}
    assert placed["ReplayServer"] == {nodes["replay"].node_id}
    assert placed["Actor"] <= {nodes["actors_a"].node_id, nodes["actors_b"].node_id}
    # The lost node's actors were started again on the remaining one, and learning went on.
    assert result.actor_starts > 2
    assert result.learner_steps > seen["steps_at_loss"] + 20
    kept = nodes["actors_b" if seen["lost"] == "actors_a" else "actors_a"].node_id
    assert _node_of("Actor") in (set(), {kept})  # (killed already when the run stopped)
    # Nothing checkpointed was lost: the final checkpoint is newer than the one before.
    final = latest_checkpoint(tmp_path / "run")
    assert final is not None and read_metadata(final)["step"] == result.learner_steps
    assert read_metadata(final)["step"] >= seen["checkpointed"]


def test_losing_the_replay_node_stops_with_a_clear_message_and_a_checkpoint(cluster, tmp_path):
    from coachrl.training.distributed.program import train_distributed

    cluster, nodes = cluster
    config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY)
    seen: dict = {}

    def stop_when(log):
        if "lost" not in seen and log[-1]["learner_steps"] > 10:
            seen["lost"] = log[-1]["learner_steps"]
            cluster.remove_node(nodes["replay"])
        return False

    with pytest.raises(RuntimeError, match="stopped: .*replay server") as stopped:
        train_distributed(config, tmp_path / "run", num_actors=2, address=cluster.address,
                          evaluate_at_end=False, verbose=False, stop_when=stop_when,
                          max_seconds=240)
    final = latest_checkpoint(tmp_path / "run")
    assert final is not None and read_metadata(final)["step"] >= seen["lost"]
    print(f"\nreplay node lost at learner step {seen['lost']:.0f}: {stopped.value}; final "
          f"checkpoint at step {read_metadata(final)['step']}")
