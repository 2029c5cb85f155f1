"""Tables and a markdown report from `stats.summarise`.

    print(comparison_table(summary).to_string())
    write_report(run_dir / "report.md", summary, metrics, reference, setup, plots)

Cells read mean ± SD [percentile-bootstrap CI of the mean] (Efron & Tibshirani 1993);
policies are compared with a paired Wilcoxon signed-rank test (Wilcoxon 1945)
against a reference, usually the best baseline.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from coachrl.evaluation.metrics import (
    HEADLINE,
    LIGHT_WEEK,
    METRICS,
    PRIMARY,
    REALISM,
    TAPER_BASE_DAYS,
    TAPER_DAYS,
)
from coachrl.files import write_atomic

ALPHA = 0.05
_BY_NAME = {metric.name: metric for metric in METRICS}


def _decimals(*values: float) -> int:
    """Decimals giving about 3 significant digits at the scale of `values` (1 to 4)."""
    scale = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if scale == 0.0:
        return 1
    return min(4, max(1, 2 - math.floor(math.log10(scale))))


def format_cell(mean: float, sd: float, lo: float, hi: float, with_sd: bool = True) -> str:
    """"mean ± sd [lo, hi]" with about 3 significant digits, e.g. "-1.57 ± 2.10 [-1.86, -1.28]"."""
    if not math.isfinite(mean):
        return "n/a"
    digits = _decimals(mean, sd)

    def number(value: float) -> str:
        return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"

    text = f"{number(mean)} ± {number(sd)}" if with_sd else number(mean)
    if math.isfinite(lo) and math.isfinite(hi):
        text += f" [{number(lo)}, {number(hi)}]"
    return text


def _check_metrics(summary: pd.DataFrame, metric_names: Sequence[str]) -> None:
    unknown = [name for name in metric_names if name not in _BY_NAME]
    if unknown:
        raise ValueError(f"unknown metrics: {', '.join(unknown)}")
    missing = [name for name in metric_names if name not in set(summary["metric"])]
    if missing:
        raise ValueError(f"metrics not in the summary: {', '.join(missing)}")


def comparison_table(summary: pd.DataFrame,
                     metric_names: Sequence[str] = HEADLINE) -> pd.DataFrame:
    """Policies as rows (order of the summary), metric labels as columns, `format_cell` cells."""
    _check_metrics(summary, metric_names)
    rows = summary.set_index(["policy", "metric"])
    policies = list(pd.unique(summary["policy"]))
    table = pd.DataFrame(
        [[format_cell(*rows.loc[(policy, name), ["mean", "sd", "ci_lo", "ci_hi"]])
          for name in metric_names] for policy in policies],
        index=pd.Index(policies, name="policy"),
        columns=[_BY_NAME[name].label for name in metric_names])
    return table


def terminal_table(summary: pd.DataFrame,
                   metric_names: Sequence[str] = HEADLINE) -> pd.DataFrame:
    """Metric labels as rows, policies as columns, "mean [95 % CI]" cells: fits a terminal."""
    _check_metrics(summary, metric_names)
    rows = summary.set_index(["policy", "metric"])
    policies = list(pd.unique(summary["policy"]))
    return pd.DataFrame(
        [[format_cell(*rows.loc[(policy, name), ["mean", "sd", "ci_lo", "ci_hi"]], with_sd=False)
          for policy in policies] for name in metric_names],
        index=pd.Index([_BY_NAME[name].label for name in metric_names], name="mean [95 % CI]"),
        columns=policies)


def _markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of `frame`, its index as the first column."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = [frame.index.name or ""] + [cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([cell(index)] + [cell(v) for v in row]) + " |")
    return "\n".join(lines)


def _number(value: float, spec: str = ".3g") -> str:
    return format(value, spec) if math.isfinite(value) else "n/a"


def _verdict(p_value: float, difference: float, higher_is_better: bool) -> str:
    """"better", "worse" or "no significant difference" at ALPHA, in the metric's direction."""
    if not (p_value < ALPHA) or difference == 0 or not math.isfinite(difference):
        return "no significant difference"
    return "better" if (difference > 0) == higher_is_better else "worse"


def _paired_section(summary: pd.DataFrame, reference: str | None,
                    metric_names: Sequence[str]) -> list[str]:
    if reference is None:
        return ["## Paired tests", "", "No reference policy: no paired tests.", ""]
    rows = summary.set_index(["policy", "metric"])
    others = [p for p in pd.unique(summary["policy"]) if p != reference]
    table = []
    for name in metric_names:
        metric = _BY_NAME[name]
        if metric.higher_is_better is None:
            continue
        ref_mean = rows.loc[(reference, name), "mean"]
        for policy in others:
            row = rows.loc[(policy, name)]
            # Direction from the median paired difference, or the difference of means if it is 0.
            difference = row["median_diff_vs_ref"]
            if difference == 0:
                difference = row["mean"] - ref_mean
            table.append((metric.label, policy, _number(row["median_diff_vs_ref"]),
                          _number(row["wilcoxon_stat"], ".1f"), _number(row["p_value"]),
                          _verdict(row["p_value"], difference, metric.higher_is_better)))
    frame = pd.DataFrame(table, columns=["metric", "policy", "median difference", "Wilcoxon W",
                                         "p-value", f"verdict (α = {ALPHA})"]).set_index("metric")
    return [f"## Paired tests against the best baseline ({reference})", "",
            f"Paired two-sided Wilcoxon signed-rank test per athlete of each policy against "
            f"{reference}; median difference = median(policy - {reference}).", "",
            _markdown_table(frame) if table else "No other policies to compare.", ""]


def _archetype_section(metrics: pd.DataFrame) -> list[str]:
    if "archetype" not in metrics.columns or PRIMARY not in metrics.columns:
        return []
    means = metrics.pivot_table(index="policy", columns="archetype", values=PRIMARY,
                                aggfunc="mean", sort=False, dropna=False)
    means = means.reindex(pd.unique(metrics["policy"])).map(lambda v: _number(v, ".2f"))
    means.index.name = "policy"
    means.columns.name = None
    return [f"## {_BY_NAME[PRIMARY].label} by archetype (mean)", "", _markdown_table(means), ""]


def _realism_section(metrics: pd.DataFrame) -> list[str]:
    """Plan realism by archetype: hours, intensity distribution, lighter weeks, taper."""
    columns = [name for name in REALISM if name in metrics.columns]
    if "archetype" not in metrics.columns or not columns:
        return []
    means = metrics.groupby(["policy", "archetype"], sort=False)[columns].mean()
    means = means.map(lambda v: _number(v, ".1f")).reset_index()
    means.columns = ["policy", "archetype"] + [_BY_NAME[c].label for c in columns]
    return ["## Plan realism by archetype (mean)", "",
            "Time in each domain is % of the training time done; a lighter week has under "
            f"{100 * LIGHT_WEEK:g} % of the minutes of the 3 before it; the taper columns "
            f"compare the {TAPER_DAYS} days before a race with the {TAPER_BASE_DAYS} before "
            "those (seasons with a race).", "", _markdown_table(means.set_index("policy")), ""]


def _setup_value(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(str(v) for v in value)
    return str(value)


def _plot_link(plot: str | os.PathLike, directory: Path) -> str:
    path = Path(plot)
    relative = Path(os.path.relpath(path, directory)) if path.is_absolute() else path
    return f"![{path.stem}]({relative.as_posix()})"


def write_report(path: str | os.PathLike, summary: pd.DataFrame, metrics: pd.DataFrame,
                 reference: str | None, setup: Mapping[str, object],
                 plots: Sequence[str | os.PathLike] = (), *, confidence: float = 0.95) -> None:
    """Write the markdown evaluation report to `path` atomically.

    `plots` are PNG paths relative to the report's directory (absolute ones are made
    relative to it); `confidence` is the level the summary's CIs were computed at.
    """
    path = Path(path)
    headline = [name for name in HEADLINE if name in set(summary["metric"])]
    level = f"{100 * confidence:g} %"
    lines = ["# CoachRL evaluation report", "", "## Setup", ""]
    lines += [f"- **{key}**: {_setup_value(value)}" for key, value in setup.items()]
    lines += ["", f"## Results (mean ± SD [{level} CI of the mean])", "",
              _markdown_table(comparison_table(summary, headline)), ""]
    lines += _paired_section(summary, reference, headline)
    lines += _archetype_section(metrics)
    lines += _realism_section(metrics)
    if plots:
        lines += ["## Plots", ""]
        for plot in plots:
            lines += [_plot_link(plot, path.parent), ""]
    lines += ["## Definitions", ""]
    for metric in METRICS:
        direction = {True: "higher is better", False: "lower is better",
                     None: "descriptive"}[metric.higher_is_better]
        lines.append(f"- `{metric.name}`: {metric.label} ({direction})")
    lines += ["", f"Cells are mean ± sample SD over athletes, with a {level} percentile-bootstrap "
              "CI of the mean (Efron & Tibshirani 1993); paired tests are two-sided Wilcoxon "
              "signed-rank tests (Wilcoxon 1945) over athletes with both values.",
              "",
              "Common random numbers: every policy faces the same held-out athletes and the "
              "same random draws, so differences between policies are paired by athlete.", ""]

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "\n".join(lines))


__all__ = ["ALPHA", "comparison_table", "format_cell", "terminal_table", "write_report"]
