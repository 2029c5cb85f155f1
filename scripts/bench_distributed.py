"""Throughput of the distributed trainer with 1, 2 and 4 actor processes (JSON, last line).

    .venv/bin/python scripts/bench_distributed.py [--actors 1,2,4] [--window 30]
        [--config configs/ppo.yaml] [--set distributed.envs_per_actor=64 ...]

For each actor count it runs the program twice on this machine (Ray local):
- actors only: fixed parameters, a replay table that never blocks and no learner,
  so `actor_env_steps_per_s` is what the actors alone can step;
- end to end: the learner consuming (PPO: the queue holds the actors back to the
  learner's pace), giving `env_steps_per_s`, `learner_steps_per_s` and the observed
  `samples_per_insert` (sampled / inserted transitions).
Rates are measured over `--window` seconds once every actor is stepping (after
`--warmup` more seconds), from the counter's log rows.

`--scaling` measures instead, in this process, what bounds a larger run: one actor's
stepping rate (policy + world), the replay's insert and sample rates (a local Reverb
server, the config's item layout), the learner's update rate and batch, and the cost of
a parameter pull. It fits `scaling_model` and prints, as its last line,
`{"measured": {...}, "projected_env_steps_per_s": {"8": ..., "64": ..., "512": ...},
"bottleneck": "learner" | "replay" | "actors"}` (the bottleneck at the largest count).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "ppo.yaml"))
    parser.add_argument("--actors", default="1,2,4", help="comma-separated actor counts")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds skipped after the first steps")
    parser.add_argument("--scaling", action="store_true",
                        help="measure the parts and project N actors (see above)")
    parser.add_argument("--project", default="8,64,512", help="--scaling: actor counts")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key (repeatable)")
    return parser.parse_args(argv)


def steady_rates(log: list[dict[str, float]], warmup: float) -> dict[str, float]:
    """Steps/s between the first row `warmup` s after stepping began and the last row."""
    stepping = [row for row in log if row["env_steps"] > 0]
    if len(stepping) < 2:
        raise RuntimeError("the run logged too few rows: raise --window")
    start_at = stepping[0]["seconds"] + warmup
    first = next((row for row in stepping if row["seconds"] >= start_at), stepping[0])
    last = stepping[-1]
    seconds = max(last["seconds"] - first["seconds"], 1e-9)
    return {"env_steps_per_s": (last["env_steps"] - first["env_steps"]) / seconds,
            "learner_steps_per_s": (last["learner_steps"] - first["learner_steps"]) / seconds,
            "measured_s": seconds}


def scaling_model(m: dict[str, float], actors: int) -> dict[str, float]:
    """Env steps/s of `actors` actors, one core each (on ceil(N / cores_per_node) nodes),
    sharing one learner and one replay:

        actors   N x actor rate (stepping, and writing its items)
        replay   the server's insert rate, and its sample rate / samples per transition
        learner  updates/s x transitions per update / samples per transition, less the
                 share of its time spent serving parameter pulls (N actors, one pull
                 every variable_update_period steps of envs_per_actor athletes)
    (PPO learns from each transition once; MPO `samples_per_insert` times.) Also the
    nodes and the network traffic into the replay and out of the learner at that rate."""
    use = m["samples_per_transition"]
    actor_total = actors * m["actor_env_steps_per_s"]
    replay = min(m["replay_insert_transitions_per_s"], m["replay_sample_transitions_per_s"] / use)
    pulls_per_env_step = 1.0 / (m["variable_update_period"] * m["envs_per_actor"])
    learner_raw = m["learner_updates_per_s"] * m["learner_batch_transitions"] / use
    # The learner spends pull_s per pull: env steps e cost e x pulls_per_env_step x pull_s
    # of its seconds, so e = learner_raw x (1 - e x pulls_per_env_step x pull_s).
    learner = learner_raw / (1.0 + learner_raw * pulls_per_env_step * m["parameter_pull_s"])
    bounds = {"actors": actor_total, "replay": replay, "learner": learner}
    rate = min(bounds.values())
    traffic = rate * (m["record_bytes"] + pulls_per_env_step * m["parameter_bytes"])
    return {**bounds, "env_steps_per_s": rate, "bottleneck": min(bounds, key=bounds.get),
            "nodes": float(math.ceil(actors / m["cores_per_node"])),
            "network_mb_per_s": traffic / 1e6}


def measure_parts(config, steps: int = 200) -> dict[str, float]:
    """The rates `scaling_model` needs, measured here (module docstring)."""
    import pickle
    import time

    import jax
    import numpy as np
    import reverb

    from coachrl.training.distributed.agents import example_columns, make_distributed_agent
    from coachrl.training.distributed.environments import WorldBatch
    from coachrl.training.distributed.replay import Sampler, SequenceAdder, make_table

    envs = WorldBatch(config, config.distributed.envs_per_actor, seed=0)
    agent = make_distributed_agent(config, envs.nvec, envs.num_features, envs.num_envs)
    state = agent.init_training(jax.random.PRNGKey(0))
    variables = jax.device_get(agent.variables(state))
    observation, key = envs.reset(), jax.random.PRNGKey(1)
    records = []

    def act_and_step(observation, key):
        out = jax.device_get(agent.act(variables, observation, key))
        step = envs.step(out["action"])
        return step, {"features": observation["features"],
                      "action_mask": observation["action_mask"], **out,
                      "reward": step.reward, "discount": step.discount, "done": step.done}

    for i in range(5):  # compile
        step, record = act_and_step(observation, jax.random.fold_in(key, i))
        observation = step.observation
    start = time.perf_counter()
    for i in range(steps):
        step, record = act_and_step(observation, jax.random.fold_in(key, 10 + i))
        observation = step.observation
        records.append(record)
    stepping_s = (time.perf_counter() - start) / steps

    server = reverb.Server([make_table(config, sink=True)])
    address = f"localhost:{server.port}"
    adder = SequenceAdder(reverb.Client(address), agent.sequence_length, agent.sequence_period,
                          max_in_flight=64, envs_per_item=agent.envs_per_item)
    start = time.perf_counter()
    for record in records:
        adder.add(record)
    adder.close(timeout_s=30.0)
    writing_s = (time.perf_counter() - start) / len(records)
    example = example_columns(agent, envs.nvec, envs.num_features)
    item = {k: v[:, :agent.envs_per_item] for k, v in example.items()}
    sampler = Sampler(address, item, agent.items_per_batch)
    sampler.get(60.0)
    start, batches = time.perf_counter(), 20
    for _ in range(batches):
        sampler.get(60.0)
    sample_s = (time.perf_counter() - start) / batches
    server.stop()

    batch = agent.to_batch(example)
    state, _ = agent.learn(state, batch)
    jax.block_until_ready(state)
    start, updates = time.perf_counter(), 10
    for _ in range(updates):
        state, _ = agent.learn(state, batch)
    jax.block_until_ready(state)
    update_s = (time.perf_counter() - start) / updates
    # A pull's cost: serialising the parameters this process just built, as Ray does for
    # `get_variables` (no file is read).
    payload = {"version": (0, 0), "steps": 0, "variables": variables}
    start, pulls = time.perf_counter(), 50
    for _ in range(pulls):
        size = len(blob := pickle.dumps(payload))
        pickle.loads(blob)
    pull_s = (time.perf_counter() - start) / pulls

    e = envs.num_envs
    batch_transitions = agent.items_per_batch * agent.envs_per_item * (
        config.trainer.rollout_length if config.agent == "ppo" else 1)
    return {
        "envs_per_actor": float(e),
        "actor_stepping_env_steps_per_s": e / stepping_s,
        "actor_env_steps_per_s": e / (stepping_s + writing_s),
        "replay_insert_transitions_per_s": e / writing_s,
        "replay_sample_transitions_per_s": batch_transitions / sample_s,
        "learner_updates_per_s": 1.0 / update_s,
        "learner_batch_transitions": float(batch_transitions),
        "samples_per_transition": 1.0 if config.agent == "ppo"
        else float(config.mpo.samples_per_insert),
        "parameter_bytes": float(size), "parameter_pull_s": pull_s,
        "variable_update_period": float(config.distributed.variable_update_period),
        "record_bytes": sum(np.asarray(v).nbytes for v in records[0].values()) / e,
        "cores_per_node": float(os.cpu_count() or 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from coachrl.benchmarking import machine_info
    from coachrl.config import ConfigError
    from coachrl.training.config import load_train_config
    from coachrl.training.distributed.program import train_distributed

    try:
        config = load_train_config(args.config, args.overrides + ["trainer.max_minutes=0",
                                                                  "distributed.log_every_s=1"])
        counts = [int(n) for n in args.actors.split(",")]
        projected = [int(n) for n in args.project.split(",")]
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.scaling:
        measured = measure_parts(config)
        models = {str(n): scaling_model(measured, n) for n in projected}
        for n, model in models.items():
            print(json.dumps({"actors": int(n), **model}), flush=True)
        print(json.dumps({
            "measured": measured,
            "projected_env_steps_per_s": {n: m["env_steps_per_s"] for n, m in models.items()},
            "bottleneck": models[str(max(projected))]["bottleneck"],
            "agent": config.agent, "machine": machine_info()}))
        return 0

    def measured_enough(log: list[dict[str, float]]) -> bool:
        stepping = [row for row in log if row["env_steps"] > 0]
        return bool(stepping) and (stepping[-1]["seconds"] - stepping[0]["seconds"]
                                   >= args.warmup + args.window)

    results = []
    for n in counts:
        row: dict[str, float] = {"num_actors": n}
        for consume in (False, True):
            with tempfile.TemporaryDirectory() as workdir:
                result = train_distributed(
                    config, workdir, num_actors=n, consume=consume, evaluate_at_end=False,
                    verbose=False, stop_when=measured_enough)
            rates = steady_rates(result.log, args.warmup)
            if consume:
                row.update(env_steps_per_s=rates["env_steps_per_s"],
                           learner_steps_per_s=rates["learner_steps_per_s"],
                           samples_per_insert=result.samples_per_insert,
                           measured_s=rates["measured_s"])
            else:
                row["actor_env_steps_per_s"] = rates["env_steps_per_s"]
            print(json.dumps({"consume": consume, **row}), flush=True)
        results.append(row)
    by_actors = {r["num_actors"]: r["actor_env_steps_per_s"] for r in results}
    report = {
        "benchmark": "distributed", "agent": config.agent,
        "envs_per_actor": config.distributed.envs_per_actor,
        "rollout_length": config.trainer.rollout_length, "window_s": args.window,
        "results": results,
        "actor_scaling_2_vs_1": by_actors[2] / by_actors[1] if {1, 2} <= by_actors.keys()
        else None,
        "machine": machine_info(),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
