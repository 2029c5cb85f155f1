"""History charts drawn on the server, offline (matplotlib, Agg backend, SVG) as data URIs.

    uri = chart("pmc", series)      # "data:image/svg+xml;base64,...", for <img src=...>

Figures are made with the object API (`matplotlib.figure.Figure`, no pyplot state), so
charts can be drawn from several threads.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from coachrl.app.history import Series  # noqa: E402

SIZE = (7.2, 2.4)  # inches
STYLE = {"svg.fonttype": "none", "font.size": 8, "axes.spines.top": False,
         "axes.spines.right": False}


def _pmc(ax: Axes, s: Series) -> None:
    ax.plot(s.dates, s.ctl, color="#1f5fa8", label="CTL (fitness)")
    ax.plot(s.dates, s.atl, color="#d0572a", label="ATL (fatigue)")
    ax.plot(s.dates, s.tsb, color="#3a9a4a", label="TSB (form)")
    ax.axhline(0.0, color="#999", lw=0.6)
    ax.set_ylabel("TSS / day")


def _hrv(ax: Axes, s: Series) -> None:
    ax.fill_between(s.dates, s.hrv_low, s.hrv_high, color="#9cc3e6", alpha=0.5,
                    label="60-day normal range")
    ax.plot(s.dates, s.hrv_ms, "o-", ms=2.5, color="#1f5fa8", label="HRV (rMSSD)")
    ax.set_ylabel("ms")


def _rhr(ax: Axes, s: Series) -> None:
    ax.plot(s.dates, s.rhr_bpm, "o-", ms=2.5, color="#b3261e", label="resting HR")
    ax.plot(s.dates, s.rhr_usual, "--", color="#777", label="usual")
    ax.set_ylabel("bpm")


def _sleep(ax: Axes, s: Series) -> None:
    ax.bar(s.dates, np.nan_to_num(s.sleep_h), color="#6b5fb5", label="asleep")
    ax.set_ylabel("hours")


def _habits(ax: Axes, s: Series) -> None:
    for name, ema in s.habit_ema.items():
        ax.plot(s.dates, ema, label=name)
    ax.axhline(1.0, color="#999", lw=0.6, ls="--")
    ax.set_ylabel("EMA / goal")


def _benchmark(ax: Axes, s: Series) -> None:
    seen = ~np.isnan(s.benchmark_w)
    dates = [d for d, ok in zip(s.dates, seen) if ok]
    ax.plot(dates, s.benchmark_w[seen], "s-", ms=4, color="#1f5fa8", label="benchmark")
    if not dates:
        ax.text(0.5, 0.5, "no benchmark logged yet", transform=ax.transAxes, ha="center")
    ax.set_ylabel("W")


CHARTS: dict[str, tuple[str, Callable[[Axes, Series], None]]] = {
    "pmc": ("Performance management: fitness, fatigue, form", _pmc),
    "hrv": ("HRV with its 60-day normal range", _hrv),
    "rhr": ("Resting heart rate", _rhr),
    "sleep": ("Sleep", _sleep),
    "habits": ("Habit EMAs (1 = at the goal)", _habits),
    "benchmark": ("Benchmark results", _benchmark),
}


def chart(name: str, series: Series) -> str:
    """The chart `name` (a key of CHARTS) of `series` as an SVG data URI."""
    title, draw = CHARTS[name]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=SIZE)
        ax = fig.subplots()
        if series.dates:
            draw(ax, series)
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7,
                          frameon=False, ncol=3)
        else:
            ax.text(0.5, 0.5, "nothing logged yet", transform=ax.transAxes, ha="center")
        ax.set_title(title, loc="left", fontsize=9)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


__all__ = ["CHARTS", "chart"]
