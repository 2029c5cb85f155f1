"""The virtual trials' table, markdown report and forest plot."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from coachrl.files import write_atomic
from coachrl.validation.trials import TRIALS, TrialResult


def _number(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:+.2f}"


def _ci(ci: tuple[float, float]) -> str:
    return "" if not all(np.isfinite(ci)) else f" [{ci[0]:+.2f}, {ci[1]:+.2f}]"


def table(results: Mapping[str, TrialResult]) -> str:
    """One block per trial: its headline first, then every check (value [CI], band, pass)."""
    lines = [f"{'trial / check':58s} {'simulated [95 % CI]':28s} {'band':22s} pass"]
    for r in results.values():
        lines.append(f"{r.id} — {r.study}")
        for c in r.checks:
            value = f"{_number(c.value)}{_ci(c.ci)}"
            lines.append(f"  {c.name[:56]:56s} {value:28s} {c.band[:22]:22s} "
                         f"{'yes' if c.ok else 'NO'}")
        lines.append(f"  => {'PASS' if r.passed else 'FAIL'}")
    return "\n".join(lines)


def write_report(results: Mapping[str, TrialResult], path: str | os.PathLike[str],
                 athletes: int, seed: int) -> None:
    """report.md: the summary table (study · published · simulated [CI] · pass), then each
    trial's checks."""
    studies = {t.id: t for t in TRIALS}
    passed = sum(r.passed for r in results.values())
    out = ["# Virtual trials", "",
           f"{passed}/{len(results)} trials pass; {athletes} held-out athletes per arm, seed "
           f"{seed}; endpoint: tested performance (a standard test after 2 easy days).", "",
           "| trial | study | published (accepted band) | simulated [95 % CI] | pass |",
           "| --- | --- | --- | --- | --- |"]
    for r in results.values():
        h = r.headline
        out.append(f"| {r.id} | {r.study} | {r.published} | {h.name}: {_number(h.value)}"
                   f"{_ci(h.ci)} | {'yes' if r.passed else '**no**'} |")
    for r in results.values():
        t = studies[r.id]
        out += ["", f"## {r.id}: {r.study}", "", f"Population: {t.population}. Endpoint: "
                f"{r.endpoint}. Arms: "
                + ", ".join(f"{c.name}/{a.name} ({a.days} days)" if c.arms else
                            f"{c.name}/{c.baseline} ({c.season_days} days)"
                            for c in t.cohorts for a in (c.arms or (None,))) + ".", "",
                "| check | simulated [95 % CI] | accepted | pass |", "| --- | --- | --- | --- |"]
        out += [f"| {c.name} | {_number(c.value)}{_ci(c.ci)} | {c.band} | "
                f"{'yes' if c.ok else '**no**'} |" for c in r.checks]
    write_atomic(path, "\n".join(out) + "\n")


def forest_plot(results: Mapping[str, TrialResult], path: str | os.PathLike[str]) -> None:
    """Each check with a CI as a point and its interval; green passes, red fails."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(f"{r.id}: {c.name}", c) for r in results.values() for c in r.checks
            if all(np.isfinite(c.ci))]
    fig, ax = plt.subplots(figsize=(9, 0.4 * max(len(rows), 1) + 1.2))
    for i, (_, c) in enumerate(reversed(rows)):
        color = "tab:green" if c.ok else "tab:red"
        ax.plot(c.ci, [i, i], color=color, lw=2)
        ax.plot([c.value], [i], "o", color=color)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label for label, _ in reversed(rows)], fontsize=7)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("simulated mean [95 % CI] (% or points; see report.md for each band)")
    ax.set_title("Virtual trials")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["forest_plot", "table", "write_report"]
