"""Evaluation figures: PMC, headline metrics, action distribution, policy heatmap.

    paths = write_plots(out_dir, trajectories, summary, config.actions.durations_min)

Writes out_dir/pmc.png (CTL, ATL and TSB of one sample athlete under each
policy), metrics.png (a bar per policy for each headline metric, with its 95 %
CI), actions.png (the share of days each session type was prescribed, and
the share of prescribed minutes in hard sessions) and heatmap.png (the most
often prescribed session type by the form and recovery the coach saw that
morning). `summary` is the long table of `coachrl.evaluation.stats.summarise`:
one row per (policy, metric) with `mean`, `ci_lo` and `ci_hi`.

Each policy keeps its colour across figures (POLICY_COLOURS indexed by its
order in `trajectories`); session types are coloured easy (cool) to hard
(warm), the same in every figure (SESSION_COLOURS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from coachrl.evaluation.metrics import HEADLINE, METRICS
from coachrl.evaluation.rollout import Trajectory
from coachrl.sim.sessions import HARD, NUM_SESSION_TYPES, REST, SESSION_TYPES

POLICY_COLOURS: tuple[str, ...] = ("tab:blue", "tab:orange", "tab:green", "tab:red",
                                   "tab:purple", "tab:brown", "tab:pink", "tab:gray",
                                   "tab:olive", "tab:cyan")
# One per session type, in SESSION_TYPES order (easy -> hard).
SESSION_COLOURS: tuple[str, ...] = ("#d9d9d9", "#9ecae1", "#3182bd", "#8c6bb1", "#fd8d3c",
                                    "#d62728")
assert len(SESSION_COLOURS) == NUM_SESSION_TYPES
DPI = 110


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _policy_colour(index: int) -> str:
    return POLICY_COLOURS[index % len(POLICY_COLOURS)]


def _grid(count: int, max_cols: int) -> tuple[int, int]:
    """(rows, columns) for `count` panels, at most `max_cols` wide."""
    cols = min(count, max_cols)
    return -(-count // cols), cols


def _label_grid(axes: np.ndarray, count: int, xlabel: str, ylabel: str) -> None:
    """Axis labels on the left column and each column's lowest panel; hides unused panels."""
    rows, cols = axes.shape
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for col in range(cols):
        row = (count - 1 - col) // cols  # the lowest panel in use in this column
        axes[row, col].set_xlabel(xlabel)
        axes[row, col].tick_params(labelbottom=True)
    for ax in axes.flat[count:]:
        ax.set_visible(False)


def _spans(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where `flags` is true."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def session_shares(action_session: np.ndarray, num_types: int = NUM_SESSION_TYPES) -> np.ndarray:
    """f64[num_types]: the share of days each session type was prescribed (sums to 1)."""
    counts = np.bincount(np.ravel(action_session), minlength=num_types).astype(np.float64)
    return counts / counts.sum()


def hard_time_share(action: np.ndarray, durations_min: Sequence[float]) -> float:
    """% of prescribed training minutes in hard sessions (NaN when nothing was prescribed)."""
    session = action[..., 0]
    minutes = np.where(session != REST, np.asarray(durations_min, np.float64)[action[..., 1]], 0.0)
    total = minutes.sum()
    return float(100.0 * minutes[np.asarray(HARD)[session]].sum() / total) if total > 0 else np.nan


def _bin_index(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """The bin of each value, values outside the edges clipped into the first or last bin."""
    return np.clip(np.searchsorted(bins, values, side="right") - 1, 0, len(bins) - 2)


def modal_session_grid(session: np.ndarray, recovery: np.ndarray, tsb: np.ndarray,
                       recovery_bins: Sequence[float], tsb_bins: Sequence[float],
                       min_count: int = 5, num_types: int = NUM_SESSION_TYPES) -> np.ndarray:
    """int[recovery bins, TSB bins]: the most often prescribed session type in each cell.

    Days are pooled over every axis of the (equal-shape) inputs; values outside
    the bin edges count in the edge bins; days with a NaN reading are dropped.
    A cell with fewer than `min_count` days is -1; a tie goes to the easier type.
    """
    recovery_bins, tsb_bins = np.asarray(recovery_bins, float), np.asarray(tsb_bins, float)
    session, recovery, tsb = (np.ravel(x) for x in (session, recovery, tsb))
    ok = np.isfinite(recovery) & np.isfinite(tsb)
    counts = np.zeros((len(recovery_bins) - 1, len(tsb_bins) - 1, num_types), np.int64)
    np.add.at(counts, (_bin_index(recovery[ok], recovery_bins), _bin_index(tsb[ok], tsb_bins),
                       session[ok]), 1)
    return np.where(counts.sum(axis=-1) >= min_count, counts.argmax(axis=-1), -1)


def _session_legend(fig) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=c) for c in SESSION_COLOURS]
    fig.legend(handles, [s.label for s in SESSION_TYPES], loc="outside lower center",
               ncol=NUM_SESSION_TYPES, fontsize=8, frameon=False)


def plot_pmc(trajectories: Mapping[str, Trajectory], path: str | os.PathLike[str],
             athlete: int = 0) -> None:
    """CTL, ATL and TSB of one athlete under each policy, a panel per policy."""
    from matplotlib.patches import Patch

    plt = _pyplot()
    num = len(trajectories)
    first = next(iter(trajectories.values()))
    athletes, days = first.ctl.shape
    if not 0 <= athlete < athletes:
        raise ValueError(f"athlete {athlete}: the trajectories have athletes 0..{athletes - 1}")
    rows, cols = _grid(num, 1 if num <= 3 else 2)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 2.6 * rows + 1.0), sharex=True,
                             sharey=True, squeeze=False, layout="constrained")
    t = np.arange(days)
    legend = {}
    for ax, (name, traj) in zip(axes.flat, trajectories.items()):
        ctl, atl = traj.ctl[athlete], traj.atl[athlete]
        ax.axhspan(-30, -10, color="tab:green", alpha=0.08, lw=0,
                   label="TSB −10…−30 (productive build)")
        for lo, hi in _spans(traj.injured[athlete]):
            ax.axvspan(lo - 0.5, hi - 0.5, color="tab:red", alpha=0.18, lw=0)
        for lo, hi in _spans(traj.ill[athlete]):
            ax.axvspan(lo - 0.5, hi - 0.5, color="tab:purple", alpha=0.18, lw=0)
        ax.plot(t, ctl, color="tab:blue", label="CTL (fitness)")
        ax.plot(t, atl, color="tab:pink", lw=1, label="ATL (fatigue)")
        ax.plot(t, ctl - atl, color="tab:orange", lw=1, label="TSB (form)")
        ax.axhline(0, color="grey", lw=0.6)
        if traj.race_day[athlete] >= 0:
            ax.axvline(traj.race_day[athlete], color="black", ls="--", lw=1, label="race day")
        ax.set_title(f"{name}: final gain {traj.gain[athlete, -1]:+.1f} %", fontsize=10)
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    _label_grid(axes, num, "day of season", "load (TSS/day)")
    legend["injured"] = Patch(color="tab:red", alpha=0.18)
    legend["ill"] = Patch(color="tab:purple", alpha=0.18)
    fig.legend(list(legend.values()), list(legend), loc="outside lower center",
               ncol=min(len(legend), 4), fontsize=8, frameon=False)
    fig.suptitle(f"Performance-management chart of athlete {athlete} under each policy",
                 fontsize=11)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_metric_bars(summary: pd.DataFrame, path: str | os.PathLike[str],
                     metric_names: Sequence[str] = HEADLINE,
                     policies: Sequence[str] | None = None) -> None:
    """A small bar chart per metric: each policy's mean with its 95 % CI.

    `policies` fixes the order (and so the colours) of the policies; by default
    their order in `summary`. Metrics not in `summary` are left out, and so are
    NaN means and CIs.
    """
    from matplotlib.patches import Patch

    plt = _pyplot()
    info = {m.name: m for m in METRICS}
    present = set(summary["metric"])
    names = [m for m in metric_names if m in present]
    in_summary = list(pd.unique(summary["policy"]))
    every = list(policies or []) + [p for p in in_summary if p not in (policies or [])]
    colours = {p: _policy_colour(i) for i, p in enumerate(every)}
    order = [p for p in every if p in in_summary]
    if not names:
        raise ValueError(f"none of the metrics {list(metric_names)} is in the summary")
    rows, cols = _grid(len(names), 5)
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 2.5 * rows + 0.8), squeeze=False,
                             layout="constrained")
    x = np.arange(len(order))
    for ax, name in zip(axes.flat, names):
        table = summary[summary["metric"] == name].set_index("policy").reindex(order)
        mean = table["mean"].to_numpy(float)
        lo, hi = table["ci_lo"].to_numpy(float), table["ci_hi"].to_numpy(float)
        shown = np.isfinite(mean)
        ax.bar(x[shown], mean[shown], color=[colours[p] for p, s in zip(order, shown) if s])
        ci = shown & np.isfinite(lo) & np.isfinite(hi)
        if ci.any():
            err = np.stack([mean[ci] - lo[ci], hi[ci] - mean[ci]]).clip(min=0)
            ax.errorbar(x[ci], mean[ci], yerr=err, fmt="none", ecolor="black", elinewidth=1,
                        capsize=3)
        ax.axhline(0, color="grey", lw=0.6)
        metric = info.get(name)
        title = metric.label if metric else name
        better = {True: "↑ better", False: "↓ better"}.get(metric and metric.higher_is_better)
        ax.set_title(f"{title}\n{better}" if better else title, fontsize=9)
        ax.set_xticks([])
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.tick_params(axis="y", labelsize=8)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    fig.legend([Patch(color=colours[p]) for p in order], order, loc="outside lower center",
               ncol=min(len(order), 6), fontsize=9, frameon=False)
    fig.suptitle("Outcomes per policy: mean over athletes, 95 % bootstrap CI", fontsize=11)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_action_distribution(trajectories: Mapping[str, Trajectory],
                             path: str | os.PathLike[str],
                             durations_min: Sequence[float]) -> None:
    """A stacked bar per policy: % of days each session type was prescribed."""
    plt = _pyplot()
    names = list(trajectories)
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(names) + 1.7), layout="constrained")
    left = np.zeros(len(names))
    shares = 100.0 * np.stack([session_shares(t.action[..., 0]) for t in trajectories.values()])
    y = np.arange(len(names))
    for k, session in enumerate(SESSION_TYPES):
        bars = ax.barh(y, shares[:, k], left=left, color=SESSION_COLOURS[k], label=session.label,
                       edgecolor="white", linewidth=0.5)
        ax.bar_label(bars, labels=[f"{s:.0f}" if s >= 6 else "" for s in shares[:, k]],
                     label_type="center", fontsize=7)
        left += shares[:, k]
    hard = [hard_time_share(t.action, durations_min) for t in trajectories.values()]
    ax.set_yticks(y, [f"{name}\nhard time " + (f"{h:.0f} %" if np.isfinite(h) else "n/a")
                      for name, h in zip(names, hard)], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("days prescribed (%)")
    ax.set_title("Prescribed session types (hard time: % of prescribed minutes in "
                 "tempo / HIIT)", fontsize=10)
    _session_legend(fig)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_policy_heatmap(trajectories: Mapping[str, Trajectory], path: str | os.PathLike[str],
                        recovery_bins: Sequence[float] = tuple(range(0, 101, 10)),
                        tsb_bins: Sequence[float] = tuple(range(-40, 26, 5)),
                        min_count: int = 5) -> None:
    """A panel per policy: the modal session type by the TSB and recovery seen that morning."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    plt = _pyplot()
    cmap = ListedColormap(SESSION_COLOURS)
    norm = BoundaryNorm(np.arange(NUM_SESSION_TYPES + 1) - 0.5, NUM_SESSION_TYPES)
    rows, cols = _grid(len(trajectories), 3)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows + 1.0), sharex=True,
                             sharey=True, squeeze=False, layout="constrained")
    fig.get_layout_engine().set(wspace=0.04)  # room between one panel's last tick and the next's
    for ax, (name, traj) in zip(axes.flat, trajectories.items()):
        grid = modal_session_grid(traj.action[..., 0], traj.seen_recovery, traj.seen_tsb,
                                  recovery_bins, tsb_bins, min_count)
        ax.pcolormesh(tsb_bins, recovery_bins, np.ma.masked_less(grid, 0), cmap=cmap, norm=norm,
                      edgecolors="white", linewidth=0.3)
        ax.set_facecolor("white")
        ax.set_title(name, fontsize=10)
    _label_grid(axes, len(trajectories), "TSB going into the day", "recovery seen that morning")
    _session_legend(fig)
    fig.suptitle(f"Most often prescribed session (blank: < {min_count} days; values outside "
                 "the axes count in the edge cells)", fontsize=10)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def write_plots(out_dir: str | os.PathLike[str], trajectories: Mapping[str, Trajectory],
                summary: pd.DataFrame, durations_min: Sequence[float],
                athlete: int = 0) -> list[Path]:
    """pmc.png, metrics.png, actions.png and heatmap.png in `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in ("pmc.png", "metrics.png", "actions.png", "heatmap.png")]
    plot_pmc(trajectories, paths[0], athlete)
    plot_metric_bars(summary, paths[1], policies=list(trajectories))
    plot_action_distribution(trajectories, paths[2], durations_min)
    plot_policy_heatmap(trajectories, paths[3])
    return paths


__all__ = ["POLICY_COLOURS", "SESSION_COLOURS", "hard_time_share", "modal_session_grid",
           "plot_action_distribution", "plot_metric_bars", "plot_pmc", "plot_policy_heatmap",
           "session_shares", "write_plots"]
