"""Benchmarks the simulated athlete world: batched (Anakin-style) and dm_env throughput.

    .venv/bin/python scripts/bench_env.py                   # every CPU core, batch 4096, 365 days
    .venv/bin/python scripts/bench_env.py --batch 64 --days 10 --dm_env_steps 50   # smoke run

Batched: the batch is split over CPU devices (XLA_FLAGS
--xla_force_host_platform_device_count=N, set here before JAX is imported) and
`jax.pmap` runs, on each device, a `lax.scan` over days of `world.batch_step`
(the Podracer "Anakin" layout). Progress goes to stderr; the LAST stdout line
is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from coachrl.benchmarking import machine_info, peak_rss_mb

TARGET_ATHLETE_DAYS_PER_S = 2_000_000
TARGET_DM_ENV_STEPS_PER_S = 5_000
TIMED_RUNS = 3
# The fixed action of the batched runs: aerobic base, 60 min, every habit at its goal level.
FIXED_SESSION, FIXED_MINUTES = "aerobic_base", 60.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=(f"Targets: >= {TARGET_ATHLETE_DAYS_PER_S:,} athlete-days/s batched "
                f"(batched_athlete_days_per_s) and >= {TARGET_DM_ENV_STEPS_PER_S:,} dm_env "
                "steps/s (dm_env_steps_per_s). Timed figures are the best of "
                f"{TIMED_RUNS} runs after one compile; medians are reported too."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=os.cpu_count() or 1,
                        help="CPU devices for pmap (default: os.cpu_count()); ignored when "
                             "XLA_FLAGS already sets a device count")
    parser.add_argument("--batch", type=int, default=4096, help="athletes in the batch")
    parser.add_argument("--days", type=int, default=365, help="days scanned per timed run")
    parser.add_argument("--dm_env_steps", type=int, default=2000,
                        help="timed dm_env steps (0 skips the dm_env benchmark)")
    parser.add_argument("--dm_env_warmup", type=int, default=200,
                        help="dm_env steps before timing (compiles the env)")
    parser.add_argument("--wait_for_env_s", type=float, default=0.0,
                        help="if coachrl.envs is missing, poll every 60 s up to this long")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("devices", "batch", "days"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def configure_jax_environment(devices: int) -> None:
    """Sets JAX_PLATFORMS (default cpu) and the host device count; call BEFORE importing jax."""
    from coachrl.devices import request_host_devices

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    request_host_devices(devices)


def log(message: str) -> None:
    print(f"[bench_env] {message}", file=sys.stderr, flush=True)


def fixed_action(config) -> np.ndarray:
    """int32[H]: aerobic base 60 min and every habit at the level closest to its daily goal."""
    from coachrl.sim.sessions import SESSION_NAMES

    habits = [h.goal_level for h in config.habits.items]
    return np.asarray([SESSION_NAMES.index(FIXED_SESSION),
                       config.actions.duration_index(FIXED_MINUTES), *habits], np.int32)


def random_valid_action(action_mask: np.ndarray, nvec: Sequence[int],
                        rng: np.random.Generator) -> np.ndarray:
    """int32[H]: per head, a choice drawn uniformly among those `action_mask` allows.

    `action_mask` is bool[sum(nvec)], the heads' choices one after another. A
    head with nothing allowed (never the case for the world's masks) gets 0.
    """
    action = np.zeros(len(nvec), np.int32)
    start = 0
    for head, n in enumerate(nvec):
        allowed = np.flatnonzero(action_mask[start:start + n])
        if allowed.size:
            action[head] = allowed[rng.integers(allowed.size)]
        start += n
    return action


def time_runs(run: Callable[[], Any], runs: int = TIMED_RUNS) -> list[float]:
    """Wall seconds of `runs` calls of `run` (which must block until its result is ready)."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return seconds


def make_rollout(world, days: int, action: np.ndarray, autoreset: bool):
    """(states, key) -> checksum[B]: `days` days of `world.batch_step` in one `lax.scan`.

    The checksum sums every reward and observation feature, so nothing a
    training loop would read is dead code to XLA.
    """
    import jax
    import jax.numpy as jnp

    def rollout(states, key):
        batch = states.day.shape[0]
        actions = jnp.broadcast_to(jnp.asarray(action), (batch, action.shape[0]))  # [B, H]

        def body(carry, day_key):
            states, total = carry
            states, ts = world.batch_step(states, actions, day_key, autoreset=autoreset)
            total = total + ts.reward + jnp.sum(ts.observation["features"], axis=-1)
            return (states, total), None

        keys = jax.random.split(key, days)
        (_, total), _ = jax.lax.scan(body, (states, jnp.zeros((batch,), jnp.float32)), keys)
        return total

    return rollout


def make_initial_states(world, batch: int):
    """key -> a batch of freshly reset athletes ([B] leading axes)."""
    import jax

    from coachrl.sim.population import sample_athletes

    def init(key):
        k_athletes, k_reset = jax.random.split(key)
        athletes = sample_athletes(k_athletes, batch, world.config)
        states, _ = jax.vmap(world.reset)(jax.random.split(k_reset, batch), athletes)
        return states

    return init


def bench_pmap(world, batch: int, days: int, action: np.ndarray, autoreset: bool,
               seed: int) -> dict[str, float]:
    """Athlete-days/s with the batch split over every local device (pmap x scan)."""
    import jax

    n = jax.local_device_count()
    per_device = -(-batch // n)
    if per_device * n != batch:
        log(f"batch {batch} rounded up to {per_device * n} ({per_device} per device x {n})")
    keys = jax.random.split(jax.random.PRNGKey(seed), 2 * n)
    states = jax.pmap(make_initial_states(world, per_device))(keys[:n])  # [N, B/N, ...]
    run_keys = keys[n:]
    start = time.perf_counter()
    rollout = jax.pmap(make_rollout(world, days, action, autoreset)).lower(
        states, run_keys).compile()
    compile_s = time.perf_counter() - start
    rollout(states, run_keys).block_until_ready()  # warm-up run, untimed
    seconds = time_runs(lambda: rollout(states, run_keys).block_until_ready())
    return _rates(per_device * n, days, seconds, compile_s)


def bench_single_device(world, batch: int, days: int, action: np.ndarray, autoreset: bool,
                        seed: int) -> dict[str, float]:
    """Athlete-days/s on one device: `jit` of the scan over the whole batch."""
    import jax

    k_init, k_run = jax.random.split(jax.random.PRNGKey(seed))
    states = jax.jit(make_initial_states(world, batch))(k_init)
    start = time.perf_counter()
    rollout = jax.jit(make_rollout(world, days, action, autoreset)).lower(states, k_run).compile()
    compile_s = time.perf_counter() - start
    rollout(states, k_run).block_until_ready()  # warm-up run, untimed
    seconds = time_runs(lambda: rollout(states, k_run).block_until_ready())
    return _rates(batch, days, seconds, compile_s)


def _rates(batch: int, days: int, seconds: list[float], compile_s: float) -> dict[str, float]:
    work = batch * days
    return {"best": work / min(seconds), "median": work / statistics.median(seconds),
            "compile_s": compile_s, "batch": batch}


def import_coach_env(wait_s: float, poll_s: float = 60.0):
    """coachrl.envs.CoachEnv, polling up to `wait_s` seconds; (None, reason) if missing."""
    import importlib

    deadline = time.monotonic() + wait_s
    while True:
        try:
            importlib.invalidate_caches()
            module = importlib.import_module("coachrl.envs")
            return module.CoachEnv, None
        except (ImportError, AttributeError) as error:
            reason = f"coachrl.envs.CoachEnv unavailable: {error}"
            sys.modules.pop("coachrl.envs", None)
        if time.monotonic() >= deadline:
            return None, reason
        log(f"{reason}; polling again in {poll_s:.0f} s")
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))


def bench_dm_env(steps: int, warmup: int, seed: int, wait_s: float) -> dict[str, Any]:
    """dm_env steps/s of CoachEnv with random valid actions (env.step time, and whole loop)."""
    coach_env, reason = import_coach_env(wait_s)
    if coach_env is None:
        return {"dm_env_steps_per_s": None, "dm_env_reason": reason}
    env = coach_env(seed=seed)
    spec = env.action_spec()
    nvec = [int(m) + 1 for m in np.broadcast_to(spec.maximum, spec.shape)]
    rng = np.random.default_rng(seed)
    timestep = env.reset()
    env_s, episodes = 0.0, 0
    loop_start = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            env_s, episodes, loop_start = 0.0, 0, time.perf_counter()
        if timestep.last():
            timestep = env.reset()
            episodes += 1
        action = random_valid_action(np.asarray(timestep.observation["action_mask"]), nvec, rng)
        start = time.perf_counter()
        timestep = env.step(action)
        env_s += time.perf_counter() - start
    loop_s = time.perf_counter() - loop_start
    return {"dm_env_steps_per_s": steps / env_s, "dm_env_loop_steps_per_s": steps / loop_s,
            "dm_env_steps": steps, "dm_env_resets": episodes}


def run_benchmarks(args: argparse.Namespace) -> dict[str, Any]:
    import jax

    from coachrl.config import default_world_config, load_world_config
    from coachrl.sim.world import AthleteWorld

    devices = jax.local_device_count()
    log(f"jax {jax.__version__}, {devices} {jax.default_backend()} device(s), "
        f"batch {args.batch}, {args.days} days")
    world = AthleteWorld(default_world_config())
    action = fixed_action(world.config)
    # Seasons at least as long as the horizon: no season ends, so no reset is needed.
    long_days = max(args.days, 7)
    no_reset_world = AthleteWorld(load_world_config(overrides=[
        f"episode.min_days={long_days}", f"episode.max_days={long_days}",
        f"episode.race_window_days={min(28, long_days)}"]))

    log("batched (pmap x scan, autoreset) ...")
    batched = bench_pmap(world, args.batch, args.days, action, True, args.seed)
    log(f"  {batched['best']:,.0f} athlete-days/s (compiled in {batched['compile_s']:.1f} s)")
    log("batched without resets (seasons >= horizon) ...")
    no_reset = bench_pmap(no_reset_world, args.batch, args.days, action, False, args.seed)
    log(f"  {no_reset['best']:,.0f} athlete-days/s")
    log("single device (jit x scan, autoreset) ...")
    single = bench_single_device(world, args.batch, args.days, action, True, args.seed)
    log(f"  {single['best']:,.0f} athlete-days/s")
    dm_env: dict[str, Any] = {"dm_env_steps_per_s": None, "dm_env_reason": "skipped"}
    if args.dm_env_steps > 0:
        log(f"dm_env: {args.dm_env_warmup} warm-up + {args.dm_env_steps} timed steps ...")
        dm_env = bench_dm_env(args.dm_env_steps, args.dm_env_warmup, args.seed,
                              args.wait_for_env_s)
        rate = dm_env["dm_env_steps_per_s"]
        log(f"  {rate:,.0f} steps/s" if rate else f"  {dm_env['dm_env_reason']}")

    return {
        "batched_athlete_days_per_s": batched["best"],
        "batched_athlete_days_per_s_median": batched["median"],
        "batched_athlete_days_per_s_no_reset": no_reset["best"],
        "batched_athlete_days_per_s_no_reset_median": no_reset["median"],
        "single_device_athlete_days_per_s": single["best"],
        "single_device_athlete_days_per_s_median": single["median"],
        **dm_env,
        "timing": f"best of {TIMED_RUNS} timed runs after compile + one warm-up run "
                  "(medians alongside)",
        "compile_s": batched["compile_s"],
        "compile_s_note": "XLA compile (lower + compile) of the batched pmap rollout",
        "compile_s_single_device": single["compile_s"],
        "targets": {"batched_athlete_days_per_s": TARGET_ATHLETE_DAYS_PER_S,
                    "dm_env_steps_per_s": TARGET_DM_ENV_STEPS_PER_S},
        "peak_rss_mb": peak_rss_mb(),
        "devices": devices,
        "batch": batched["batch"],
        "days": args.days,
        "action": action.tolist(),
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "machine": machine_info(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_jax_environment(args.devices)
    results = run_benchmarks(args)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
