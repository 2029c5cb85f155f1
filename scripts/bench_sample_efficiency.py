"""Sample efficiency: athlete-days MPO needs to reach the held-out score PPO ends with.

    .venv/bin/python scripts/bench_sample_efficiency.py [--ppo_steps 5000000]
        [--mpo_max_steps N] [--mpo_eval_every 100000] [--eval_athletes 100]

1. Trains PPO (configs/ppo.yaml) for --ppo_steps athlete-days, evaluating the greedy
   coach on held-out athletes 5 times along the way and at the end. The target is
   its final mean performance gain; PPO's steps-to-target is the first evaluation
   that reached it.
2. Trains MPO (configs/mpo.yaml), evaluating every --mpo_eval_every athlete-days on
   the same held-out athletes, until it reaches the target or --mpo_max_steps
   (default: PPO's steps-to-target / 5, the bar of issue 5).
Prints one JSON object as its last line: target_gain_pct, ppo_env_steps_to_target,
mpo_env_steps_to_target (null if never reached), their ratio, both learning curves.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from coachrl.benchmarking import machine_info, peak_rss_mb


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ppo_steps", type=int, default=5_000_000)
    parser.add_argument("--mpo_max_steps", type=int, default=None,
                        help="default: PPO's steps to its final score / 5")
    parser.add_argument("--mpo_eval_every", type=int, default=100_000)
    parser.add_argument("--eval_athletes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="keep both runs here (default: temp)")
    parser.add_argument("--target", type=float, nargs=2, default=None,
                        metavar=("GAIN_PCT", "PPO_STEPS"),
                        help="skip the PPO run: its final score and steps to reach it")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override an MPO run key (repeatable)")
    parser.add_argument("--ppo_set", dest="ppo_overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a PPO run key (repeatable)")
    return parser.parse_args(argv)


def curve(workdir: Path) -> list[tuple[int, float]]:
    """(athlete-days, held-out gain) of every evaluation of a run, the final one included."""
    import pandas as pd

    path = workdir / "logs.csv"
    logs = pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame(
        {"env_steps": [], "eval_gain_pct": []})
    points = [(int(r.env_steps), float(r.eval_gain_pct))
              for r in logs.dropna(subset=["eval_gain_pct"]).itertuples()]
    final = workdir / "final_eval.json"
    if final.exists():
        data = json.loads(final.read_text())
        points.append((int(data["env_steps"]), float(data["eval_gain_pct"])))
    return points


def first_reaching(points: list[tuple[int, float]], target: float) -> int | None:
    return next((steps for steps, gain in points if gain >= target), None)


def run(args: argparse.Namespace, root: Path) -> dict:
    from coachrl.config import CONFIG_DIR
    from coachrl.training.anakin import train
    from coachrl.training.config import load_train_config

    common = [f"seed={args.seed}", "trainer.max_minutes=0", "trainer.checkpoint_every_steps=0",
              f"trainer.eval_athletes={args.eval_athletes}"]
    start = time.perf_counter()
    if args.target is None:
        ppo = load_train_config(CONFIG_DIR / "ppo.yaml", [
            *common, f"trainer.total_env_steps={args.ppo_steps}",
            f"trainer.eval_every_steps={max(1, args.ppo_steps // 5)}", *args.ppo_overrides])
        print(f"[sample efficiency] PPO for {args.ppo_steps:,} athlete-days", file=sys.stderr,
              flush=True)
        train(ppo, root / "ppo", show_progress=False)
        ppo_curve = curve(root / "ppo")
        target = ppo_curve[-1][1]
        ppo_steps = first_reaching(ppo_curve, target)
    else:
        ppo_curve, target, ppo_steps = [], args.target[0], int(args.target[1])
    ppo_s = time.perf_counter() - start
    cap = args.mpo_max_steps or max(1, ppo_steps // 5)
    print(f"[sample efficiency] target: held-out gain {target:+.3f} % (PPO reached it at "
          f"{ppo_steps:,}); MPO for at most {cap:,} athlete-days", file=sys.stderr, flush=True)
    mpo = load_train_config(CONFIG_DIR / "mpo.yaml", [
        *common, f"trainer.total_env_steps={cap}",
        f"trainer.eval_every_steps={args.mpo_eval_every}", *args.overrides])
    train(mpo, root / "mpo", show_progress=False, evaluate_at_end=False,
          stop_when=lambda evaluation: evaluation["eval_gain_pct"] >= target)
    mpo_curve = curve(root / "mpo")
    mpo_steps = first_reaching(mpo_curve, target)
    return {
        "target_gain_pct": target, "ppo_env_steps_to_target": ppo_steps,
        "mpo_env_steps_to_target": mpo_steps,
        "ratio_ppo_to_mpo": ppo_steps / mpo_steps if mpo_steps else None,
        "meets_target": mpo_steps is not None and mpo_steps * 5 <= ppo_steps,
        "ppo_curve": ppo_curve, "mpo_curve": mpo_curve, "mpo_max_steps": cap,
        "eval_athletes": args.eval_athletes, "eval_seed": args.seed + 1,
        "ppo_seconds": round(ppo_s, 1),
        "mpo_seconds": round(time.perf_counter() - start - ppo_s, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1), "machine": machine_info(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workdir:
        root = Path(args.workdir)
        if root.exists() and any(root.iterdir()):
            print(f"error: --workdir {root} is not empty: choose a new folder", file=sys.stderr)
            return 2
        report = run(args, root)
    else:
        with tempfile.TemporaryDirectory() as root:
            report = run(args, Path(root))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
