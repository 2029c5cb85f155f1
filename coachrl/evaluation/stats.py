"""Statistics for comparing policies on the same held-out athletes.

    summary = summarise(metrics_table(trajectories, config), reference="fixed")

Per (policy, metric): the mean, the sample SD, a percentile-bootstrap confidence
interval of the mean (Efron & Tibshirani 1993, ch. 13) and, against a reference
policy, a paired two-sided Wilcoxon signed-rank test (Wilcoxon 1945) over athletes.
Every policy meets the same athletes and the same random draws (common random
numbers, see `rollout`), so the comparison is paired by `athlete`; pairs with a
NaN on either side (e.g. `race_gain_pct` for an athlete without a race) are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from coachrl.evaluation.metrics import METRIC_NAMES, PRIMARY

SUMMARY_COLUMNS: tuple[str, ...] = ("policy", "metric", "mean", "sd", "ci_lo", "ci_hi", "n",
                                    "median_diff_vs_ref", "wilcoxon_stat", "p_value")


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """`values` as a 1-D float array with the NaNs dropped."""
    array = np.asarray(values, np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of values, got shape {array.shape}")
    return array[~np.isnan(array)]


def bootstrap_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95,
                 n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of `values` (NaNs dropped); repeatable for a seed.

    Fewer than 2 values give (nan, nan); identical values v give (v, v).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    sample = _finite(values)
    if sample.size < 2:
        return (float("nan"), float("nan"))
    if np.all(sample == sample[0]):  # every resample has the same mean; scipy would warn
        return (float(sample[0]), float(sample[0]))
    result = stats.bootstrap((sample,), np.mean, n_resamples=n_resamples, vectorized=True,
                             confidence_level=confidence, method="percentile", rng=seed)
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


class PairedTest(NamedTuple):
    """A paired Wilcoxon signed-rank test of x against y."""

    statistic: float  # two-sided: min(W+, W-) over the nonzero differences; nan if none
    p_value: float  # 1.0 when there is nothing to test
    median_difference: float  # median(x - y) over the complete pairs; nan if none
    n: int  # complete pairs (no NaN on either side), zero differences included


def paired_test(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of x - y (same athletes in the same order).

    Pairs with a NaN on either side are dropped; zero differences are discarded by the
    test (zero_method "wilcox"). With no pairs, or every difference zero, there is no
    evidence of a difference: statistic nan, p-value 1.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"paired_test needs two 1-D arrays of the same length, got shapes "
                         f"{x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    diff = x[keep] - y[keep]
    if diff.size == 0:
        return PairedTest(float("nan"), 1.0, float("nan"), 0)
    median = float(np.median(diff))
    if not np.any(diff != 0):
        return PairedTest(float("nan"), 1.0, median, int(diff.size))
    result = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    return PairedTest(float(result.statistic), float(result.pvalue), median, int(diff.size))


def best_policy(metrics: pd.DataFrame, candidates: Sequence[str], metric: str = PRIMARY,
                higher_is_better: bool = True) -> str:
    """The candidate with the best mean `metric` (NaNs skipped); ties go to the earlier one."""
    if isinstance(candidates, str):
        raise ValueError(f"candidates must be a sequence of policy names, got {candidates!r}")
    if not candidates:
        raise ValueError("best_policy needs at least one candidate")
    if metric not in metrics.columns:
        raise ValueError(f"unknown metric {metric!r}")
    present = set(metrics["policy"])
    missing = [name for name in candidates if name not in present]
    if missing:
        raise ValueError(f"policies not in the metrics table: {', '.join(map(str, missing))}")
    means = metrics.groupby("policy", sort=False)[metric].mean()
    best, best_mean = None, float("nan")
    for name in candidates:
        mean = float(means[name])
        if np.isnan(mean):
            continue
        if best is None or (mean > best_mean if higher_is_better else mean < best_mean):
            best, best_mean = name, mean
    if best is None:
        raise ValueError(f"no candidate has a value of {metric!r}")
    return best


def _by_athlete(metrics: pd.DataFrame, policy: str) -> pd.DataFrame:
    """The rows of one policy, indexed by athlete."""
    rows = metrics[metrics["policy"] == policy]
    if rows["athlete"].duplicated().any():
        raise ValueError(f"policy {policy!r} has more than one row for an athlete")
    return rows.set_index("athlete")


def summarise(metrics: pd.DataFrame, reference: str | None,
              metric_names: Sequence[str] = METRIC_NAMES, confidence: float = 0.95,
              n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (policy, metric), in SUMMARY_COLUMNS order (long format).

    Policies in order of first appearance, metrics in the order given. The paired
    test against `reference` (matched by athlete) is NaN for the reference itself
    and when `reference` is None.
    """
    for column in ("policy", "athlete"):
        if column not in metrics.columns:
            raise ValueError(f"metrics table has no {column!r} column")
    unknown = [name for name in metric_names if name not in metrics.columns]
    if unknown:
        raise ValueError(f"metrics not in the metrics table: {', '.join(unknown)}")
    policies = list(pd.unique(metrics["policy"]))
    if reference is not None and reference not in policies:
        raise ValueError(f"reference policy {reference!r} not in the metrics table "
                         f"(policies: {', '.join(map(str, policies))})")
    ref = None if reference is None else _by_athlete(metrics, reference)
    nan = float("nan")
    rows = []
    for policy in policies:
        own = _by_athlete(metrics, policy)
        for name in metric_names:
            sample = _finite(own[name].to_numpy())
            n = int(sample.size)
            mean = float(sample.mean()) if n else nan
            sd = float(sample.std(ddof=1)) if n > 1 else nan
            lo, hi = bootstrap_ci(sample, confidence, n_resamples, seed)
            test = (nan, nan, nan)
            if ref is not None and policy != reference:
                other = ref[name].reindex(own.index)  # NaN where the reference lacks an athlete
                paired = paired_test(own[name].to_numpy(), other.to_numpy())
                test = (paired.median_difference, paired.statistic, paired.p_value)
            rows.append((policy, name, mean, sd, lo, hi, n, *test))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


__all__ = ["PairedTest", "SUMMARY_COLUMNS", "best_policy", "bootstrap_ci", "paired_test",
           "summarise"]
