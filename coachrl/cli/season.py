"""The demo's first step: one season of one athlete of each archetype under the fixed-
periodisation baseline (`scripts/demo.py`, `coachrl demo`).

    scripts/demo.py --out runs/demo [--days 180] [--seed 0]
        [--config configs/world/default.yaml] [--set section.key=value ...]

--config takes a world file or a run file that composes one (configs/demo.yaml:
`world:` plus `seed:`, used when --seed is not given); --set keys are world keys
(episode.min_days=...) either way.

Writes DIR/season.png (one column per archetype: PMC; HRV and resting HR;
hidden performance, benchmarks, injury and illness days) and DIR/summary.csv,
and prints the summary table. The plan (`coachrl.agents.baselines`, "fixed") is
fitted to each athlete's CTL and keeps to the world's safety mask, as every
coach must. `coachrl evaluate` compares all the baselines on 200 athletes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from coachrl.agents.baselines import FIXED_WEEK, make_baseline
from coachrl.agents.policy import Policy
from coachrl.cli.common import add_world_arguments
from coachrl.config import ConfigError, WorldConfig, load_world
from coachrl.evaluation.rollout import evaluation_config
from coachrl.files import check_writable
from coachrl.sim.features import readiness
from coachrl.sim.population import AthleteParams, sample_athletes
from coachrl.sim.safety import RULE_NAMES
from coachrl.sim.sessions import REST, SESSION_TYPES
from coachrl.sim.world import AthleteWorld

SEARCH_BATCH = 64  # athletes drawn per attempt when looking for one of each archetype


def add_arguments(parser: argparse.ArgumentParser, out_required: bool = True) -> None:
    """--out, --days, --seed, --config, --set (`coachrl demo` gives --out a default)."""
    if out_required:
        parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--days", type=int, default=180, help="season length (days)")
    parser.add_argument("--seed", type=int, default=None,
                        help="picks the athletes and the noise (default: the run file's seed, "
                             "else 0)")
    add_world_arguments(parser)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return parser.parse_args(argv)


def season_config(path: str | os.PathLike[str] | None, overrides: Sequence[str],
                  days: int) -> tuple[WorldConfig, int | None]:
    """The world of `path` + `overrides` with every season exactly `days` long, and the run seed."""
    base, seed = load_world(path, overrides)
    try:
        return evaluation_config(base, days), seed
    except ConfigError as error:
        raise ConfigError(f"--days {days} sets the season length: {error}") from None


def one_per_archetype(key: jax.Array, config: WorldConfig,
                      max_attempts: int = 100) -> AthleteParams:
    """The first athlete of each archetype in the training population's draws ([A] axes).

    Deterministic for `key`: draws batches of SEARCH_BATCH athletes with keys
    fold_in(key, attempt) until every archetype has been seen.
    """
    num = len(config.population.archetypes)
    chosen: dict[int, AthleteParams] = {}
    for attempt in range(max_attempts):
        batch = sample_athletes(jax.random.fold_in(key, attempt), SEARCH_BATCH, config)
        arch = np.asarray(batch.archetype)
        for a in range(num):
            hits = np.flatnonzero(arch == a)
            if a not in chosen and hits.size:
                chosen[a] = jax.tree_util.tree_map(lambda x, i=hits[0]: x[i], batch)
        if len(chosen) == num:
            return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs),
                                          *(chosen[a] for a in range(num)))
    missing = [config.population.archetypes[a].name for a in range(num) if a not in chosen]
    raise ValueError(f"no athlete of archetype(s) {missing} in {max_attempts * SEARCH_BATCH} "
                     "draws: is their population weight 0?")


def simulate(world: AthleteWorld, athletes: AthleteParams, policy: Policy, days: int,
             key: jax.Array) -> dict[str, Any]:
    """Every athlete's season under `policy` (jit of vmap over athletes of a scan over days).

    Returns numpy arrays with [A, T] leading axes (the day's record, metrics,
    violations, the readings' HRV baselines, the safety rules that fired) and
    [A] ones (start performance, race day).
    """
    def season(params, key):
        k_reset, k_policy, k_days = jax.random.split(key, 3)
        state, ts = world.reset(k_reset, params)

        def body(carry, k):
            state, observation, policy_state = carry
            ready = readiness(state.history, world.config)  # this morning, today's reading in
            rules = world.safety(state).rules
            k_act, k_step = jax.random.split(k)
            action, policy_state = policy.step(policy_state, observation, k_act)
            state, ts = world.step(state, action, k_step)
            return (state, ts.observation, policy_state), {
                "record": ts.extras["record"], "metrics": ts.extras["metrics"],
                "violations": ts.extras["violations"], "action": ts.extras["action"],
                "habit_alignment": ts.extras["reward_components"]["habits"],
                "hrv_baseline_ln": ready.hrv_baseline, "hrv_mean_ln": ready.hrv_mean,
                "hrv_sd_ln": ready.hrv_sd, "hrv_trusted": ready.hrv_trusted, "rules": rules,
            }

        start = (state.start_performance, state.race_day)
        carry = (state, ts.observation, policy.init(k_policy))
        _, days_out = jax.lax.scan(body, carry, jax.random.split(k_days, days))
        return days_out, start

    keys = jax.random.split(key, athletes.archetype.shape[0])
    days_out, (start_performance, race_day) = jax.jit(jax.vmap(season))(athletes, keys)
    out = jax.tree_util.tree_map(np.asarray, days_out)
    out["start_performance"] = np.asarray(start_performance)
    out["race_day"] = np.asarray(race_day)
    return out


def summarize(out: dict[str, Any], names: Sequence[str]) -> pd.DataFrame:
    """One row per archetype: outcomes of the season."""
    m, rec = out["metrics"], out["record"]
    rows = []
    for a, name in enumerate(names):
        trained = out["action"][a, :, 0] != REST  # completion over prescribed training days
        rows.append({
            "archetype": name,
            "start_W": out["start_performance"][a],
            "end_W": m["performance"][a, -1],
            "gain_pct": m["gain"][a, -1],
            "final_ctl": m["ctl"][a, -1],
            "min_tsb": m["tsb"][a].min(),
            "injuries": int(m["new_injury"][a].sum()),
            "injury_days": int(rec.injured[a].sum()),
            "illnesses": int(m["new_illness"][a].sum()),
            "illness_days": int(rec.ill[a].sum()),
            "mean_recovery": m["recovery"][a].mean(),
            "recovery_gt60_pct": 100.0 * np.mean(m["recovery"][a] > 60.0),
            "habit_alignment": out["habit_alignment"][a, -1],
            "sessions_completed_pct": (100.0 * m["completed"][a][trained].mean()
                                       if trained.any() else np.nan),
            "violations": int(out["violations"][a].sum()),
            "race_day": int(out["race_day"][a]),
        })
    return pd.DataFrame(rows)


def rules_table(out: dict[str, Any], names: Sequence[str]) -> pd.DataFrame:
    """Days each safety rule fired, per archetype."""
    return pd.DataFrame(out["rules"].sum(axis=1), index=list(names), columns=list(RULE_NAMES))


def _spans(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where `flags` is true."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def plot_seasons(out: dict[str, Any], names: Sequence[str], path: Path) -> None:
    """season.png: a column per archetype; rows PMC, HRV / resting HR, performance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    m, rec = out["metrics"], out["record"]
    num, days = m["ctl"].shape
    t = np.arange(days)
    fig, axes = plt.subplots(3, num, figsize=(4.8 * num, 10.5), sharex=True, squeeze=False,
                             layout="constrained")
    legend: dict[str, Any] = {}  # label -> handle, for one figure legend

    def keep(*axs) -> None:
        for ax in axs:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(label, handle)

    for a, name in enumerate(names):
        # Row 1: the performance-management chart.
        ax = axes[0, a]
        ax.axhspan(-30, -10, color="tab:green", alpha=0.08, lw=0,
                   label="TSB −10…−30 (productive build)")
        ax.plot(t, m["ctl"][a], color="tab:blue", label="CTL (fitness)")
        ax.plot(t, m["atl"][a], color="tab:pink", lw=1, label="ATL (fatigue)")
        ax.plot(t, m["tsb"][a], color="tab:orange", lw=1, label="TSB (form)")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(f"{name} — {out['start_performance'][a]:.0f} W at start", fontsize=11)
        if a == 0:
            ax.set_ylabel("load (TSS/day)")
        keep(ax)

        # Row 2: HRV (lower part of the panel) and resting HR (upper part, twin axis).
        ax = axes[1, a]
        hrv = rec.hrv_ms[a]
        ok = ~np.isnan(hrv)
        mean, sd = out["hrv_mean_ln"][a], out["hrv_sd_ln"][a]
        band = out["hrv_trusted"][a] & ~np.isnan(mean)
        ax.fill_between(t, np.exp(mean - sd), np.exp(mean + sd), where=band, color="tab:green",
                        alpha=0.15, lw=0, label="HRV normal range (60 d, ±1 SD)")
        ax.plot(t[ok], hrv[ok], ".", ms=3.5, color="tab:green", alpha=0.7,
                label="HRV rMSSD (daily; gaps = not worn)")
        ax.plot(t, np.exp(out["hrv_baseline_ln"][a]), color="darkgreen", lw=1.5,
                label="HRV 7-day baseline")
        lo, hi = np.nanmin(hrv), np.nanmax(hrv)
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.7 * (hi - lo))
        if a == 0:
            ax.set_ylabel("HRV rMSSD (ms)", color="darkgreen")
        twin = ax.twinx()
        twin.plot(t, rec.rhr_bpm[a], color="tab:red", lw=0.8, alpha=0.7, label="resting HR")
        lo, hi = np.nanmin(rec.rhr_bpm[a]), np.nanmax(rec.rhr_bpm[a])
        twin.set_ylim(lo - 1.7 * (hi - lo), hi + 0.05 * (hi - lo))
        twin.tick_params(axis="y", colors="tab:red", labelsize=8)
        if a == num - 1:
            twin.set_ylabel("resting HR (bpm)", color="tab:red")
        keep(ax, twin)

        # Row 3: hidden performance, benchmark efforts, injury and illness days.
        ax = axes[2, a]
        for lo_day, hi_day in _spans(rec.injured[a]):
            ax.axvspan(lo_day - 0.5, hi_day - 0.5, color="tab:red", alpha=0.18, lw=0)
        for lo_day, hi_day in _spans(rec.ill[a]):
            ax.axvspan(lo_day - 0.5, hi_day - 0.5, color="tab:purple", alpha=0.18, lw=0)
        ax.plot(t, m["performance"][a], color="black", lw=1.2, label="performance (hidden)")
        bench = rec.benchmark[a]
        ok = ~np.isnan(bench)
        ax.plot(t[ok], bench[ok], "o", ms=3.5, color="tab:blue", label="benchmark effort")
        if out["race_day"][a] >= 0:
            ax.axvline(out["race_day"][a], color="tab:orange", ls="--", lw=1, label="race day")
        if a == 0:
            ax.set_ylabel("power (W)")
        ax.set_xlabel("day of season")
        ax.set_title(f"gain {m['gain'][a, -1]:+.1f} %, {int(rec.injured[a].sum())} injured / "
                     f"{int(rec.ill[a].sum())} ill days, "
                     f"{int(out['violations'][a].sum())} violations", fontsize=9)
        keep(ax)
    legend["injured"] = Patch(color="tab:red", alpha=0.18)
    legend["ill"] = Patch(color="tab:purple", alpha=0.18)
    fig.legend(list(legend.values()), list(legend.keys()), loc="outside lower center",
               ncol=min(len(legend), 7), fontsize=8, frameon=False)
    label = {s.name: s.label.lower() if s.name != "hiit" else s.label for s in SESSION_TYPES}
    plan = ", ".join(f"{day} {label[name]}" + (f" {minutes:.0f}" if minutes else "")
                     for day, (name, minutes) in zip(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
                                                      "Sun"), FIXED_WEEK))
    fig.suptitle(f"One season per archetype under the fixed-periodisation baseline (written week: "
                 f"{plan} min; 3 build weeks + 1 deload, volume fitted to the athlete's CTL; "
                 "habits at goal)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(out: Path, days: int, seed: int | None, config_path: str | None,
             overrides: Sequence[str]) -> pd.DataFrame:
    """Simulates, plots and summarises; returns the summary table.

    `seed` None takes the run file's seed (0 for a world file).
    """
    config, run_seed = season_config(config_path, overrides, days)
    world = AthleteWorld(config)
    key = jax.random.PRNGKey(seed if seed is not None else run_seed or 0)
    k_athletes, k_seasons = jax.random.split(key)
    athletes = one_per_archetype(k_athletes, config)
    names = config.population.archetype_names
    results = simulate(world, athletes, make_baseline("fixed", config), days, k_seasons)
    summary = summarize(results, names)
    summary.to_csv(out / "summary.csv", index=False, float_format="%.4g")
    plot_seasons(results, names, out / "season.png")
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    print("\nDays each safety rule fired:")
    print(rules_table(results, names).to_string())
    return summary


def write_season(out: Path, days: int, seed: int | None, config_path: str | None,
                 overrides: Sequence[str]) -> pd.DataFrame:
    """`run_demo` with the flags checked: UsageError names --out or the bad config key."""
    from coachrl.cli.common import UsageError

    try:
        check_writable(out)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write there ({error.strerror or error})") from None
    try:
        summary = run_demo(out, days, seed, config_path, overrides)
    except ConfigError as error:
        raise UsageError(f"bad config: {error}") from None
    print(f"\nwrote {out / 'season.png'} and {out / 'summary.csv'}")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """scripts/demo.py: exit code 2 on bad input."""
    from coachrl.cli.common import UsageError

    args = parse_args(argv)
    try:
        write_season(Path(args.out), args.days, args.seed, args.config, args.overrides)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


__all__ = ["add_arguments", "main", "one_per_archetype", "parse_args", "plot_seasons",
           "rules_table", "run_demo", "season_config", "simulate", "summarize", "write_season"]
