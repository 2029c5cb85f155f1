"""Benchmarks the jitted PPO trainer: athlete-days per second at a training config.

    .venv/bin/python scripts/bench_train.py [--config configs/ppo.yaml] [--calls 5]
        [--set trainer.num_envs=2048 ...]

Compiles the trainer's fused call (`updates_per_call` x (rollout + PPO update)),
then times `--calls` calls (best and median), excluding compilation, which is
reported apart. The trainer splits the athletes over the local devices
(`trainer.devices`); on CPU this script asks XLA for `--host_devices` of them (default
one per core) before JAX starts. Prints one JSON object as its last line with
env_steps_per_s (the best call), the median, compile_s, the batch shape, the devices,
peak memory and the machine. Target (issue 4): >= 100,000 athlete-days/s at the
default config on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence

from coachrl.benchmarking import machine_info, peak_rss_mb

TARGET = 100_000


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from coachrl.config import CONFIG_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(CONFIG_DIR / "ppo.yaml"))
    parser.add_argument("--calls", type=int, default=5, help="timed calls after compiling")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE")
    parser.add_argument("--host_devices", type=int, default=0,
                        help="XLA CPU devices to ask for (default 0: one per core); ignored "
                             "when XLA_FLAGS already sets a count")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from coachrl.devices import request_host_devices

    request_host_devices(args.host_devices or None)
    import jax

    from coachrl.training.anakin_ppo import ppo_devices, ppo_setup
    from coachrl.training.config import load_train_config

    config = load_train_config(args.config, args.overrides)
    agent = ppo_setup(config)
    key = jax.random.PRNGKey(config.seed)
    runner = agent.init_runner(agent.init_training(key), key)
    chunk = agent.chunk
    start = time.perf_counter()
    runner, metrics = chunk(runner)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    steps = config.trainer.steps_per_update * config.trainer.updates_per_call
    seconds = []
    for _ in range(args.calls):
        start = time.perf_counter()
        runner, metrics = chunk(runner)
        jax.block_until_ready(metrics)
        seconds.append(time.perf_counter() - start)
        print(f"[bench_train] {steps / seconds[-1]:,.0f} athlete-days/s", file=sys.stderr,
              flush=True)
    t = config.trainer
    report = {
        "env_steps_per_s": round(steps / min(seconds)),
        "env_steps_per_s_median": round(steps / statistics.median(seconds)),
        "target_env_steps_per_s": TARGET, "meets_target": steps / min(seconds) >= TARGET,
        "compile_s": round(compile_s - min(seconds), 2),
        "updates_per_s": round(t.updates_per_call / min(seconds), 2),
        "num_envs": t.num_envs, "rollout_length": t.rollout_length,
        "updates_per_call": t.updates_per_call, "hidden_sizes": list(config.ppo.hidden_sizes),
        "num_epochs": config.ppo.num_epochs, "num_minibatches": config.ppo.num_minibatches,
        "timing": f"best of {args.calls} calls of {steps:,} athlete-days, compile excluded",
        "peak_rss_mb": round(peak_rss_mb(), 1), "jax_version": jax.__version__,
        "backend": jax.default_backend(), "devices": ppo_devices(config),
        "local_devices": jax.local_device_count(),
        "machine": machine_info(),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
