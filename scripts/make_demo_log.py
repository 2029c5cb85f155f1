"""Writes 60 days of a simulated athlete's observable log into the store (the demo athlete).

    .venv/bin/python scripts/make_demo_log.py [--athlete demo] [--days 60] [--db URL]
        [--end YYYY-MM-DD] [--seed 0]

A held-out athlete trains under the fixed-periodisation baseline; only what a real
log holds is written (readings with their gaps, sessions done, habits, benchmarks,
illness and injury), ending the day before --end (default: today), so that
`scripts/daily_inference.py --athlete demo` plans --end. The athlete gets a threshold
power equal to their simulated performance on day 0. Re-running with the same
settings changes nothing (the store never overwrites what was logged).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--athlete", default="demo")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--db", default=None, help="store URL (default: the embedded SQLite)")
    parser.add_argument("--end", default=None, help="the day after the log (default: today)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.days < 1:
        print(f"error: --days {args.days}: need at least 1 day", file=sys.stderr)
        return 2
    try:
        end = dt.date.fromisoformat(args.end) if args.end else dt.date.today()
    except ValueError:
        print(f"error: --end {args.end!r}: expected YYYY-MM-DD", file=sys.stderr)
        return 2
    import jax

    from coachrl.agents.baselines import make_baseline
    from coachrl.coach.features import logged_day
    from coachrl.coach.store import StoreError, default_url, open_store
    from coachrl.config import default_world_config
    from coachrl.evaluation import evaluation_config
    from coachrl.sim.physiology import initial_physiology, tested_performance
    from coachrl.sim.world import AthleteWorld

    config = evaluation_config(default_world_config(), max(args.days, 7), race_probability=0.0)
    world = AthleteWorld(config)
    key = jax.random.PRNGKey(args.seed)
    params = world.sample_athlete(key, heldout=True)
    state, ts = jax.jit(world.reset)(key, params)
    policy = make_baseline("fixed", config)
    step, act = jax.jit(world.step), jax.jit(policy.step)
    policy_state = policy.init(key)
    start = end - dt.timedelta(days=args.days)
    days = []
    for t in range(args.days):
        action, policy_state = act(policy_state, ts.observation, jax.random.fold_in(key, -t - 1))
        state, ts = step(state, action, jax.random.fold_in(key, t))
        days.append(logged_day(jax.device_get(ts.extras["record"]),
                               start + dt.timedelta(days=t), config))
    ftp = float(tested_performance(initial_physiology(params, config), params, config))
    url = args.db or default_url()
    try:
        with open_store(url) as store:
            store.add_athlete(args.athlete, name="Demo athlete", threshold_power_w=round(ftp),
                              habit_goals={h.name: (h.unit, h.weekly_goal)
                                           for h in config.habits.items})
            new = store.log_days(args.athlete, days, source=f"simulated:seed{args.seed}")
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"logged {new} new days ({start} .. {days[-1].date}) for athlete "
          f"'{args.athlete}' in {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
