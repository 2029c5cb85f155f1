"""Tests for coachrl.evaluation.stats and coachrl.evaluation.report."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from coachrl.evaluation.report import comparison_table, format_cell, write_report
from coachrl.evaluation.stats import (
    SUMMARY_COLUMNS,
    PairedTest,
    best_policy,
    bootstrap_ci,
    paired_test,
    summarise,
)

NAN = float("nan")


def _metrics() -> pd.DataFrame:
    """3 policies x 6 athletes with hand-chosen values."""
    athletes = np.arange(6)
    columns = {
        "A": {"gain_pct": [1, 2, 3, 4, 5, 6], "race_gain_pct": [1, NAN, 3, NAN, 5, 7],
              "injury_days": [0, 0, 1, 0, 2, 0]},
        "B": {"gain_pct": [2, 4, 6, 8, 10, 12], "race_gain_pct": [2, 5, NAN, NAN, 6, 9],
              "injury_days": [1, 1, 2, 1, 3, 1]},
        "C": {"gain_pct": [0, 0, 0, 0, 0, 0], "race_gain_pct": [NAN] * 6,
              "injury_days": [0, 0, 1, 0, 2, 0]},
    }
    frames = [pd.DataFrame({"policy": policy, "athlete": athletes,
                            "archetype": ["sprinter", "endurance"] * 3,
                            **{k: np.asarray(v, np.float64) for k, v in values.items()}})
              for policy, values in columns.items()]
    return pd.concat(frames, ignore_index=True)


NAMES = ("gain_pct", "race_gain_pct", "injury_days")


# --- paired_test --------------------------------------------------------------------------


def test_paired_test_all_positive_hand_worked():
    # Differences 1..5 all positive: W- = 0, and only the empty set has rank sum 0 of the
    # 2^5 = 32 sign patterns, so the exact two-sided p = 2 * 1/32.
    result = paired_test([1, 2, 3, 4, 5], [0, 0, 0, 0, 0])
    assert isinstance(result, PairedTest)
    assert result.statistic == pytest.approx(0.0)
    assert result.p_value == pytest.approx(2 / 32)
    assert result.median_difference == pytest.approx(3.0)
    assert result.n == 5


def test_paired_test_mixed_signs_hand_worked():
    # Differences [1, -2, 3, 4, 5]: ranks 1..5, W- = 2, W+ = 13. Subsets of {1..5} with
    # rank sum <= 2: {}, {1}, {2} -> P(W <= 2) = 3/32, two-sided p = 2 * 3/32.
    result = paired_test([2, 0, 6, 8, 10], [1, 2, 3, 4, 5])
    assert result.statistic == pytest.approx(2.0)
    assert result.p_value == pytest.approx(6 / 32)
    assert result.median_difference == pytest.approx(3.0)


@pytest.mark.parametrize("size", [30, 80])
def test_paired_test_matches_scipy_and_drops_nans(size):
    rng = np.random.default_rng(size)
    x = rng.normal(size=size)
    y = x + rng.normal(0.3, 1.0, size=size)
    x[[0, 5]] = np.nan
    y[[5, 9]] = np.nan
    y[3] = x[3]  # a zero difference, discarded by zero_method "wilcox"
    keep = ~(np.isnan(x) | np.isnan(y))
    expected = sps.wilcoxon(x[keep], y[keep])
    result = paired_test(x, y)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.median_difference == pytest.approx(np.median(x[keep] - y[keep]))
    assert result.n == size - 3


def test_paired_test_no_evidence_cases():
    zeros = paired_test([1.0, 2.0, NAN], [1.0, 2.0, 3.0])
    assert math.isnan(zeros.statistic) and zeros.p_value == 1.0
    assert zeros.median_difference == 0.0 and zeros.n == 2
    empty = paired_test([NAN, 1.0], [2.0, NAN])
    assert math.isnan(empty.statistic) and empty.p_value == 1.0
    assert math.isnan(empty.median_difference) and empty.n == 0
    with pytest.raises(ValueError, match="same length"):
        paired_test([1, 2], [1, 2, 3])


# --- bootstrap_ci -------------------------------------------------------------------------


def test_bootstrap_ci_matches_scipy():
    data = np.random.default_rng(1).normal(2.0, 1.5, size=40)
    expected = sps.bootstrap((data,), np.mean, n_resamples=2000, vectorized=True,
                             confidence_level=0.9, method="percentile", rng=3)
    lo, hi = bootstrap_ci(data, confidence=0.9, n_resamples=2000, seed=3)
    assert lo == pytest.approx(expected.confidence_interval.low)
    assert hi == pytest.approx(expected.confidence_interval.high)
    assert lo < data.mean() < hi
    assert bootstrap_ci(data, 0.9, 2000, 3) == (lo, hi)  # repeatable
    assert bootstrap_ci(np.append(data, [NAN, NAN]), 0.9, 2000, 3) == (lo, hi)  # NaNs dropped


def test_bootstrap_ci_narrower_for_more_data():
    rng = np.random.default_rng(2)
    small = bootstrap_ci(rng.normal(size=20))
    large = bootstrap_ci(rng.normal(size=2000))
    assert large[1] - large[0] < small[1] - small[0]


def test_bootstrap_ci_degenerate():
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert all(math.isnan(v) for v in bootstrap_ci([1.0, NAN]))
    assert bootstrap_ci([2.5, 2.5, 2.5, NAN]) == (2.5, 2.5)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=95)


# --- best_policy --------------------------------------------------------------------------


def test_best_policy():
    metrics = _metrics()
    assert best_policy(metrics, ["A", "B", "C"]) == "B"
    assert best_policy(metrics, ["A", "C"]) == "A"
    assert best_policy(metrics, ["A", "B", "C"], "injury_days", higher_is_better=False) == "A"
    assert best_policy(metrics, ["C", "A"], "injury_days", higher_is_better=False) == "C"  # tie
    assert best_policy(metrics, ["C", "A"], "race_gain_pct") == "A"  # C is all NaN
    with pytest.raises(ValueError, match="D, E"):
        best_policy(metrics, ["A", "D", "E"])


# --- summarise ----------------------------------------------------------------------------


def test_summarise_hand_computed():
    summary = summarise(_metrics(), "A", NAMES, n_resamples=500)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert list(summary["policy"]) == ["A"] * 3 + ["B"] * 3 + ["C"] * 3
    assert list(summary["metric"]) == list(NAMES) * 3
    row = summary.set_index(["policy", "metric"])

    assert row.loc[("A", "gain_pct"), "mean"] == pytest.approx(3.5)
    assert row.loc[("A", "gain_pct"), "sd"] == pytest.approx(math.sqrt(3.5))
    assert row.loc[("B", "gain_pct"), "mean"] == pytest.approx(7.0)
    assert row.loc[("B", "gain_pct"), "sd"] == pytest.approx(2 * math.sqrt(3.5))
    assert row.loc[("A", "race_gain_pct"), "mean"] == pytest.approx(4.0)
    assert row.loc[("A", "race_gain_pct"), "sd"] == pytest.approx(math.sqrt(20 / 3))
    assert row.loc[("A", "race_gain_pct"), "n"] == 4
    assert row.loc[("A", "injury_days"), "sd"] == pytest.approx(math.sqrt(0.7))
    assert (row.loc[("C", "gain_pct"), ["ci_lo", "ci_hi"]] == 0).all()
    assert row.loc[("C", "race_gain_pct"), "n"] == 0
    assert math.isnan(row.loc[("C", "race_gain_pct"), "mean"])
    lo, hi = row.loc[("A", "gain_pct"), ["ci_lo", "ci_hi"]]
    assert (lo, hi) == bootstrap_ci([1, 2, 3, 4, 5, 6], 0.95, 500, 0)

    tests = ["median_diff_vs_ref", "wilcoxon_stat", "p_value"]
    assert row.loc["A", tests].isna().all().all()  # the reference itself
    # B - A on gain = 1..6, all positive: exact two-sided p = 2/64.
    assert row.loc[("B", "gain_pct"), "median_diff_vs_ref"] == pytest.approx(3.5)
    assert row.loc[("B", "gain_pct"), "wilcoxon_stat"] == pytest.approx(0.0)
    assert row.loc[("B", "gain_pct"), "p_value"] == pytest.approx(2 / 64)
    assert row.loc[("C", "gain_pct"), "median_diff_vs_ref"] == pytest.approx(-3.5)
    # Race: athletes 0, 4, 5 have both values; B - A = [1, 1, 2].
    assert row.loc[("B", "race_gain_pct"), "median_diff_vs_ref"] == pytest.approx(1.0)
    # C has no race values: no pairs, no evidence.
    assert row.loc[("C", "race_gain_pct"), "p_value"] == 1.0
    # C's injuries equal A's: every difference zero.
    assert row.loc[("C", "injury_days"), "median_diff_vs_ref"] == 0.0
    assert row.loc[("C", "injury_days"), "p_value"] == 1.0


def test_summarise_without_reference_and_errors():
    summary = summarise(_metrics(), None, NAMES, n_resamples=200)
    assert summary[["median_diff_vs_ref", "wilcoxon_stat", "p_value"]].isna().all().all()
    with pytest.raises(ValueError, match="'Z'"):
        summarise(_metrics(), "Z", NAMES)
    with pytest.raises(ValueError, match="violations"):
        summarise(_metrics(), "A", ("gain_pct", "violations"))


# --- report -------------------------------------------------------------------------------


def test_format_cell():
    assert format_cell(-1.5712, 2.1, -1.861, -1.2789) == "-1.57 ± 2.10 [-1.86, -1.28]"
    assert format_cell(12.0, 3.4, 10.52, 13.6) == "12.0 ± 3.4 [10.5, 13.6]"
    assert format_cell(0.8532, 0.0121, 0.851, 0.8555) == "0.853 ± 0.012 [0.851, 0.856]"
    assert format_cell(0.0, 0.0, 0.0, 0.0) == "0.0 ± 0.0 [0.0, 0.0]"
    assert format_cell(NAN, NAN, NAN, NAN) == "n/a"


def test_comparison_table_and_report(tmp_path):
    metrics = _metrics()
    summary = summarise(metrics, "A", NAMES, n_resamples=200)
    table = comparison_table(summary, NAMES)
    assert list(table.index) == ["A", "B", "C"]
    assert list(table.columns) == ["performance gain (% of p0)", "race-day gain (% of p0)",
                                   "injury days"]
    assert table.loc["A", "performance gain (% of p0)"].startswith("3.50 ± 1.87 [")

    path = tmp_path / "out" / "report.md"
    write_report(path, summary, metrics, "A", {"athletes": 6, "policies": ["A", "B", "C"]},
                 plots=["gain.png", tmp_path / "out" / "plots" / "ctl.png"])
    text = path.read_text(encoding="utf-8")
    assert "- **athletes**: 6" in text and "- **policies**: A, B, C" in text
    assert "| policy | performance gain (% of p0) |" in text
    assert table.loc["B", "injury days"] in text
    assert "Paired tests against the best baseline (A)" in text
    assert f"{2 / 64:.3g}" in text
    lines = text.splitlines()
    gain_b = next(line for line in lines if line.startswith("| performance gain (% of p0) | B |"))
    gain_c = next(line for line in lines if line.startswith("| performance gain (% of p0) | C |"))
    injury_b = next(line for line in lines if line.startswith("| injury days | B |"))
    assert gain_b.endswith("| better |") and gain_c.endswith("| worse |")
    assert injury_b.endswith("| worse |")  # more injuries, p = 2/64
    assert "![gain](gain.png)" in text and "![ctl](plots/ctl.png)" in text
    assert "`gain_pct`: performance gain (% of p0)" in text
    assert "same held-out athletes" in text
    assert [p.name for p in path.parent.iterdir()] == ["report.md"]  # no temp file left
