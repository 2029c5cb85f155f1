"""A simulated athlete's observable log in the store: the demo athlete (`coachrl demo`,
`scripts/make_demo_log.py`).

A held-out athlete trains under the fixed-periodisation baseline; only what a real log
holds is written (readings with their gaps, sessions done, habits, benchmarks, illness and
injury), ending the day before `end`, so that `coachrl today --athlete demo` plans `end`.
The athlete gets a threshold power equal to their simulated performance on day 0.
Re-running with the same settings changes nothing (the store never overwrites).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence

from coachrl.cli.common import UsageError, parse_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--athlete", default="demo", help="the athlete's id (default demo)")
    parser.add_argument("--days", type=int, default=60, help="days logged (default 60)")
    parser.add_argument("--db", default=None, help="store URL (default: the embedded SQLite)")
    parser.add_argument("--end", default=None, help="the day after the log (default: today)")
    parser.add_argument("--seed", type=int, default=0, help="picks the athlete and the noise")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="the world (a world or run file; default configs/world/"
                             "default.yaml): its habit file becomes the athlete's, e.g. "
                             "configs/world/coachrl23.yaml for 23 habits")


def simulated_log(days: int, end: dt.date, seed: int = 0, world=None):
    """(the `LoggedDay`s of `days` days ending the day before `end`, threshold power W,
    the world config); `world`: a `WorldConfig` (default: the default world)."""
    import jax

    from coachrl.agents.baselines import make_baseline
    from coachrl.coach.features import logged_day
    from coachrl.config import default_world_config
    from coachrl.evaluation import evaluation_config
    from coachrl.sim.physiology import initial_physiology, tested_performance
    from coachrl.sim.world import AthleteWorld

    config = evaluation_config(world or default_world_config(), max(days, 7),
                               race_probability=0.0)
    world = AthleteWorld(config)
    key = jax.random.PRNGKey(seed)
    params = world.sample_athlete(key, heldout=True)
    state, ts = jax.jit(world.reset)(key, params)
    policy = make_baseline("fixed", config)
    step, act = jax.jit(world.step), jax.jit(policy.step)
    policy_state = policy.init(key)
    start = end - dt.timedelta(days=days)
    logged = []
    for t in range(days):
        action, policy_state = act(policy_state, ts.observation, jax.random.fold_in(key, -t - 1))
        state, ts = step(state, action, jax.random.fold_in(key, t))
        logged.append(logged_day(jax.device_get(ts.extras["record"]),
                                 start + dt.timedelta(days=t), config))
    ftp = float(tested_performance(initial_physiology(params, config), params, config))
    return logged, ftp, config


def write_demo_log(athlete: str = "demo", days: int = 60, db: str | None = None,
                   end: dt.date | None = None, seed: int = 0, world_file: str | None = None
                   ) -> int:
    """Simulates and logs the demo athlete (added if missing, with the world's habit file);
    returns the new days."""
    from coachrl.coach.store import StoreError, default_url, open_store
    from coachrl.config import ConfigError, load_world

    if days < 1:
        raise UsageError(f"--days {days}: need at least 1 day")
    end = end or dt.date.today()
    try:
        world = load_world(world_file)[0] if world_file else None
    except ConfigError as error:
        raise UsageError(f"--config {error}") from None
    logged, ftp, config = simulated_log(days, end, seed, world)
    url = db or default_url()
    try:
        with open_store(url) as store:
            store.add_athlete(athlete, name="Demo athlete", threshold_power_w=round(ftp),
                              habit_goals={h.name: (h.unit, h.weekly_goal)
                                           for h in config.habits.items})
            store.set_habits(athlete, config.habits)
            new = store.log_days(athlete, logged, source=f"simulated:seed{seed}")
    except StoreError as error:
        raise UsageError(str(error)) from None
    print(f"logged {new} new days ({logged[0].date} .. {logged[-1].date}) for athlete "
          f"'{athlete}' in {url}")
    return new


def main(argv: Sequence[str] | None = None) -> int:
    """scripts/make_demo_log.py: exit code 2 on bad input."""
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        if args.days < 1:
            raise UsageError(f"--days {args.days}: need at least 1 day")
        write_demo_log(args.athlete, args.days, args.db, parse_date(args.end, "--end"),
                       args.seed, args.config)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


__all__ = ["add_arguments", "main", "simulated_log", "write_demo_log"]
