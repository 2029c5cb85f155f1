"""Virtual trials: published training studies re-run in the simulated world.

Each trial names its study, its population (archetype mix), its protocol (weekly
calendars in the session catalogue, `coachrl.validation.protocols`), its endpoint
(tested performance: a standard test after 2 easy days, `physiology.tested_performance`)
and the published effect with the band we accept. It runs through the evaluation
rollout (`coachrl.evaluation.rollout`): held-out athletes, the safety mask (only its
illness and injury rules for a supervised study's protocol), and common random numbers,
so the arms of a trial are paired (same athletes, same noise).

    results = run_trials(default_world_config(), num_athletes=200, seed=0)
    results["stoggl2014"].passed

Adding a trial: write its arms from the paper (weeks, sessions, minutes; a relative
arm scales each week to a multiple of the athlete's starting load), a function from
the arms' trajectories to a list of `Check`s (the first is the headline), and add it
to TRIALS. The bands come from the paper, never from the simulator's output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from coachrl.agents.baselines import make_baseline
from coachrl.agents.policy import Policy
from coachrl.evaluation.rollout import Trajectory, evaluation_config, run_policies
from coachrl.evaluation.stats import bootstrap_ci
from coachrl.sim.config import WorldConfig
from coachrl.validation.protocols import REST_WEEK, Arm, calendar_policy, repeat, week


class Check(NamedTuple):
    """One quantity a trial checks against its band."""

    name: str
    value: float
    ci: tuple[float, float]  # 95 % bootstrap CI over athletes (nan, nan) where it has none
    band: str  # the accepted band in words
    ok: bool


class TrialResult(NamedTuple):
    id: str
    study: str
    endpoint: str
    published: str
    checks: tuple[Check, ...]  # the first is the headline

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def headline(self) -> Check:
        return self.checks[0]


# Trials report their completers, who did (nearly) every session: HERITAGE kept those who
# completed 57 of its 60 sessions (Bouchard et al. 1999), and supervised studies such as Aubry
# et al. 2014 log the training done. A cohort's athletes draw their completion logit here
# (sigmoid 3.0 ~ 95 % of sessions done in full on an ordinary day) unless it is free-living.
PER_PROTOCOL_COMPLETION = (3.0, 3.5)


@dataclasses.dataclass(frozen=True)
class Cohort:
    """A population of a trial and what it does: calendar arms or a baseline coach."""

    name: str
    population: Mapping[str, float]  # archetype name -> share
    arms: tuple[Arm, ...] = ()
    baseline: str | None = None  # a baseline coach instead of calendars
    days: int | None = None  # season length; default: the longest arm
    # the completion logit range of the cohort's athletes; None: their archetype's own
    completion: tuple[float, float] | None = PER_PROTOCOL_COMPLETION

    @property
    def supervised(self) -> bool:
        """A study's calendar cohort: its staff prescribe the protocol as written, so only
        the illness and injury rules of the safety mask apply (`safety.coach_rules: false`);
        a baseline coach's cohort keeps every rule."""
        return self.baseline is None

    @property
    def season_days(self) -> int:
        return self.days or max(a.days for a in self.arms)


Outcomes = dict[str, Trajectory]  # "cohort/arm" -> trajectories


@dataclasses.dataclass(frozen=True)
class Trial:
    id: str
    study: str  # the citation
    population: str  # in words
    endpoint: str
    published: str  # the published effect and the accepted band, in words
    cohorts: tuple[Cohort, ...]
    checks: Callable[[Outcomes], list[Check]]


# ----------------------------------------------------------------------------- endpoints


def change(traj: Trajectory, day: int, since: int = 0) -> np.ndarray:
    """% change of each athlete's tested performance after `day` days vs after `since` days.

    `traj.gain[:, t]` is the tested gain (%) after day t + 1, so "after d days" is index d - 1.
    """
    after = 1.0 + traj.gain[:, day - 1] / 100.0
    before = 1.0 if since == 0 else 1.0 + traj.gain[:, since - 1] / 100.0
    return 100.0 * (after / before - 1.0)


def _ci(values: np.ndarray) -> tuple[float, float]:
    return bootstrap_ci(np.asarray(values, np.float64))


def in_band(name: str, values: np.ndarray, lo: float = -np.inf, hi: float = np.inf) -> Check:
    """The mean of `values` lies in [lo, hi]."""
    mean = float(np.nanmean(values))
    lo_s, hi_s = f"{round(lo, 2):+g}", f"{round(hi, 2):+g}"
    band = (f"{lo_s} … {hi_s}" if np.isfinite(lo) and np.isfinite(hi)
            else f"> {lo_s}" if np.isfinite(lo) else f"< {hi_s}")
    return Check(name, mean, _ci(values), band, bool(lo <= mean <= hi))


def _share(mask: np.ndarray) -> float:
    return 100.0 * float(np.mean(mask))


# ----------------------------------------------------------------------------- protocols

# Stöggl & Sperlich 2014, reconstructed from the paper's session lists (Table 1 as reproduced
# in secondary sources): 3-week blocks of 2 loading weeks + 1 recovery week, except HIIT.
POL_LOAD = week(("rest", 0), ("hiit", 60), ("aerobic_base", 90), ("aerobic_base", 180),
                ("hiit", 60), ("aerobic_base", 90), ("aerobic_base", 180))  # ~11 h, 2 x 4x4 min
POL_RECOVERY = week(("rest", 0), ("hiit", 60), ("rest", 0), ("aerobic_base", 90), ("rest", 0),
                    ("aerobic_base", 90), ("rest", 0))
THR_LOAD = week(("rest", 0), ("tempo", 60), ("aerobic_base", 90), ("tempo", 90), ("tempo", 60),
                ("aerobic_base", 90), ("tempo", 60))  # ~7.5 h: LT intervals, fartlek at 1.5-5 mM
THR_RECOVERY = week(("rest", 0), ("tempo", 60), ("rest", 0), ("aerobic_base", 60), ("rest", 0),
                    ("tempo", 60), ("rest", 0))
HVT_LOAD = week(("rest", 0), ("aerobic_base", 90), ("aerobic_base", 180), ("aerobic_base", 90),
                ("tempo", 60), ("aerobic_base", 90), ("aerobic_base", 180))  # ~11.5 h, 1 LT session
HVT_RECOVERY = week(("rest", 0), ("aerobic_base", 90), ("rest", 0), ("aerobic_base", 90),
                    ("rest", 0), ("aerobic_base", 180), ("rest", 0))
HIIT_ADAPT = week(("rest", 0), ("hiit", 60), ("aerobic_base", 90), ("aerobic_base", 90),
                  ("hiit", 60), ("aerobic_base", 90), ("aerobic_base", 120))  # ~8.5 h
_HIIT_BLOCK_DAYS = (("hiit", 60),) * 3 + (("rest", 0),)  # 3 HIIT days + 1 rest, x 4 = 16 days
HIIT_RECOVERY = week(("aerobic_base", 90), ("rest", 0), ("aerobic_base", 90), ("rest", 0),
                     ("aerobic_base", 90), ("rest", 0), ("aerobic_base", 90))


def _hiit_weeks() -> tuple:
    """Adaptation week, 16-day block (12 HIIT), recovery week, block, recovery, then the
    adaptation week's pattern to the 9th week's test (the last 10 days are our reading)."""
    days = (list(HIIT_ADAPT) + list(_HIIT_BLOCK_DAYS) * 4 + list(HIIT_RECOVERY)
            + list(_HIIT_BLOCK_DAYS) * 4 + list(HIIT_RECOVERY) + list(HIIT_ADAPT)
            + list(HIIT_ADAPT[:3]))
    return tuple(week(*days[i:i + 7]) for i in range(0, 63, 7))


STOGGL_ARMS = (
    Arm("POL", repeat(POL_LOAD, 2) + (POL_RECOVERY,) + repeat(POL_LOAD, 2) + (POL_RECOVERY,)
        + repeat(POL_LOAD, 2) + (POL_RECOVERY,)),
    Arm("HIIT", _hiit_weeks()),
    Arm("THR", (repeat(THR_LOAD, 2) + (THR_RECOVERY,)) * 3),
    Arm("HVT", (repeat(HVT_LOAD, 2) + (HVT_RECOVERY,)) * 3),
)
WELL_TRAINED = {"intermediate": 0.3, "advanced": 0.7}  # VO2peak 62.6 mL/kg/min: sub-elite


def _stoggl_checks(out: Outcomes) -> list[Check]:
    g = {arm: change(out[f"trained/{arm}"], 63) for arm in ("POL", "HIIT", "THR", "HVT")}
    means = {k: float(np.mean(v)) for k, v in g.items()}
    order = means["POL"] > means["HIIT"] > max(means["THR"], means["HVT"])
    return [
        in_band("POL, 9 weeks (%)", g["POL"], 3.0, 8.0),
        in_band("HIIT (%)", g["HIIT"], lo=0.0),
        in_band("HIIT - POL (points)", g["HIIT"] - g["POL"], hi=0.0),
        in_band("THR (%)", g["THR"], -1.0, 2.5),
        in_band("HVT (%)", g["HVT"], -1.0, 2.5),
        Check("POL > HIIT > max(THR, HVT)", means["HIIT"] - max(means["THR"], means["HVT"]),
              (np.nan, np.nan), "order holds", bool(order)),
    ]


# Bosquet et al. 2007: a progressive 2-week taper, volume -41...60 % of the pre-taper training,
# intensity and frequency kept, after 8 build weeks progressing +5 % a week from the athlete's
# usual load (a taper follows a period of intensified training: Mujika & Padilla 2003).
BUILD_WEEK = week(("rest", 0), ("hiit", 60), ("aerobic_base", 90), ("tempo", 60),
                  ("aerobic_base", 60), ("aerobic_base", 120), ("aerobic_base", 90))
EASY_BUILD_WEEK = week(*[("aerobic_base", m) if s in ("hiit", "tempo") else (s, m)
                         for s, m in BUILD_WEEK])
BUILD = repeat(BUILD_WEEK, 8)
BUILD_VOLUME = tuple(1.0 + 0.05 * w for w in range(8))  # x the usual load, week by week


def _taper(*weeks: float) -> tuple[float, ...]:
    """Build volumes, then taper weeks as shares of the last build week's volume."""
    return BUILD_VOLUME + tuple(w * BUILD_VOLUME[-1] for w in weeks)


TAPER_ARMS = (
    Arm("taper", BUILD + repeat(BUILD_WEEK, 2), _taper(0.6, 0.4)),
    Arm("taper_easy", BUILD + repeat(EASY_BUILD_WEEK, 2), _taper(0.6, 0.4)),
    Arm("taper_4wk", BUILD + repeat(BUILD_WEEK, 4), _taper(0.6, 0.5, 0.5, 0.4)),
)
COMPETITIVE = {"intermediate": 0.3, "advanced": 0.5, "elite": 0.2}


def _taper_checks(out: Outcomes) -> list[Check]:
    two = change(out["athletes/taper"], 70, since=56)
    easy = change(out["athletes/taper_easy"], 70, since=56)
    four = change(out["athletes/taper_4wk"], 84, since=56)
    return [
        in_band("2-week taper vs pre-taper test (%)", two, 1.5, 4.0),
        in_band("intensity dropped - kept (points)", easy - two, hi=0.0),
        in_band("4-week - 2-week taper (points)", four - two, hi=0.0),
    ]


# Detraining: trained athletes stop (Coyle 1984; Mujika & Padilla 2000); beginners train 12
# weeks of 3-4 aerobic sessions, then stop for 8 (recently gained fitness is lost).
BEGINNER_WEEKS = (
    week(("rest", 0), ("aerobic_base", 45), ("rest", 0), ("aerobic_base", 45), ("rest", 0),
         ("aerobic_base", 60), ("rest", 0)),
    week(("rest", 0), ("aerobic_base", 45), ("rest", 0), ("aerobic_base", 45),
         ("aerobic_base", 45), ("rest", 0), ("aerobic_base", 60)),
)
DETRAINING_COHORTS = (
    Cohort("trained", {"advanced": 0.6, "elite": 0.4}, (Arm("stop", repeat(REST_WEEK, 4)),)),
    Cohort("beginners", {"beginner": 1.0},
           (Arm("train_then_stop", BEGINNER_WEEKS * 6 + repeat(REST_WEEK, 8)),)),
)


def _ratio_ci(lost: np.ndarray, gained: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Bootstrap CI of mean(lost) / mean(gained) over athletes (resampled in pairs)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(lost), (2000, len(lost)))
    ratios = lost[idx].mean(axis=1) / np.maximum(gained[idx].mean(axis=1), 1e-9)
    return (float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5)))


def _detraining_checks(out: Outcomes) -> list[Check]:
    stop = out["trained/stop"]
    beginners = out["beginners/train_then_stop"]
    gained = change(beginners, 84)
    lost = gained - change(beginners, 140)
    share = float(np.mean(lost) / max(np.mean(gained), 1e-9))
    return [
        in_band("trained, 4 weeks off (%)", change(stop, 28), -12.0, -4.0),
        in_band("trained, 1 week off (%)", change(stop, 7), -2.0, 2.0),
        in_band("trained, 2 weeks off (%)", change(stop, 14), hi=0.0),
        Check("beginners: share of the 12-week gain lost in 8 weeks off", share,
              _ratio_ci(lost, gained), ">= 0.7", bool(share >= 0.7)),
    ]


# HERITAGE (Bouchard et al. 1999; Skinner et al. 2000): sedentary adults, 20 weeks, 3 supervised
# sessions a week, 55 % VO2max x 30 min progressing to 75 % x 50 min (held weeks 15-20).
# For sedentary people 70-75 % VO2max lies above the first threshold: the threshold domain.
def _heritage_week(minutes: float, tempo_sessions: int) -> tuple:
    """Monday, Wednesday, Friday; `tempo_sessions` of them at 70-75 % VO2max."""
    days = [("rest", 0.0)] * 7
    kinds = ["tempo"] * tempo_sessions + ["aerobic_base"] * (3 - tempo_sessions)
    for day, kind in zip((0, 2, 4), kinds):
        days[day] = (kind, minutes)
    return week(*days)


HERITAGE_ARM = Arm("standardised", repeat(_heritage_week(30, 0), 2)
                   + repeat(_heritage_week(45, 0), 4) + repeat(_heritage_week(45, 1), 8)
                   + repeat(_heritage_week(45, 2), 6))


def _heritage_checks(out: Outcomes) -> list[Check]:
    g = change(out["sedentary/standardised"], 140)
    mean = float(np.mean(g))
    cv = float(np.std(g) / mean) if mean > 0 else float("nan")
    low = _share(g < 0.25 * mean)
    return [
        in_band("mean gain, 20 weeks (%)", g, 12.0, 22.0),
        Check("SD of gains / mean", cv, (np.nan, np.nan), ">= 0.4", bool(cv >= 0.4)),
        Check("athletes below 1/4 of the mean gain (%)", low, (np.nan, np.nan), ">= 5",
              bool(low >= 5.0)),
    ]


# Aubry et al. 2014: trained triathletes, 1 moderate week, 3 weeks at +40 % load (or normal),
# then a taper (volume -50 %, intensity kept; the 2 weeks, where Aubry's peaks fell).
# The athletes came in training: 5 weeks of the normal week run in before the moderate week,
# so the baseline test (day 42) finds them settled in it.
TRIATHLON_WEEK = week(("rest", 0), ("tempo", 60), ("aerobic_base", 90), ("hiit", 45),
                      ("aerobic_base", 60), ("aerobic_base", 120), ("aerobic_base", 90))
AUBRY_ARMS = (
    Arm("control", repeat(TRIATHLON_WEEK, 11), (1.0,) * 6 + (1.0, 1.0, 1.0, 0.6, 0.4)),
    Arm("overload", repeat(TRIATHLON_WEEK, 11), (1.0,) * 6 + (1.4, 1.4, 1.4, 0.6, 0.4)),
)
TRIATHLETES = {"intermediate": 0.3, "advanced": 0.6, "elite": 0.1}


def _aubry_checks(out: Outcomes) -> list[Check]:
    control, overload = out["triathletes/control"], out["triathletes/overload"]
    base, end, taper = 42, 63, 77  # tests: after the moderate week, the overload, the taper
    end_ol = change(overload, end, since=base)
    overreached = overload.overreached[:, end - 1] >= 1
    share = _share(overreached)
    hrv_or = overload.hrv_z[:, end - 7:end].mean(axis=1)
    after = change(overload, taper, since=base) - change(control, taper, since=base)
    ill_ol = overload.ill[:, base:end].sum()
    ill_ctl = control.ill[:, base:end].sum()
    ratio = float(ill_ol / max(ill_ctl, 1))
    some = overreached.any() and (~overreached).any()
    signature = bool(some and end_ol[overreached].mean() < end_ol[~overreached].mean()
                     and hrv_or[overreached].mean() < hrv_or[~overreached].mean())
    nan = (np.nan, np.nan)
    return [
        in_band("overload - control after the taper (points)", after, lo=0.5),
        in_band("end of overload vs baseline (%)", end_ol, -4.0, -1.0),
        Check("overreached at the end of overload (%)", share, nan, "30 … 70",
              bool(30.0 <= share <= 70.0)),
        Check("overreached: lower test and HRV than the others", float(
            end_ol[overreached].mean() - end_ol[~overreached].mean()) if some else np.nan,
            nan, "both lower", signature),
        in_band("not overreached - control after the taper (points)",
                after[~overreached] if (~overreached).any() else np.array([np.nan]), lo=1.5),
        in_band("overreached - control after the taper (points)",
                after[overreached] if overreached.any() else np.array([np.nan]), hi=0.0),
        Check("illness days during overload / control", ratio, nan, ">= 2", bool(ratio >= 2.0)),
    ]


# Diminishing returns: 180 days of the polarised baseline, by level.
LEVELS = ("beginner", "intermediate", "advanced", "elite")


def _season_checks(out: Outcomes) -> list[Check]:
    traj = out["levels/polarized"]
    g = change(traj, 180)
    by = {name: g[traj.archetype == i] for i, name in enumerate(LEVELS)}
    lo, hi = float(np.mean(by["elite"])), float(np.mean(by["beginner"]))
    return [
        in_band("beginners, 180 days (%)", by["beginner"], 8.0, 20.0),
        in_band("elites (%)", by["elite"], 0.5, 3.0),
        in_band("intermediates (%)", by["intermediate"], lo, hi),
        in_band("advanced (%)", by["advanced"], lo, hi),
    ]


TRIALS: tuple[Trial, ...] = (
    Trial("stoggl2014", "Stöggl & Sperlich 2014, Front Physiol 5:33",
          "well-trained, sub-elite (intermediate 30 %, advanced 70 %)",
          "tested performance after 9 weeks",
          "POL +5.1 % peak power (+8.1 % at 4 mM); HIIT +5.6 % at 4 mM; THR, HVT n.s. — accept "
          "POL +3…+8, 0 < HIIT < POL, THR/HVT −1…+2.5, POL > HIIT > max(THR, HVT)",
          (Cohort("trained", WELL_TRAINED, STOGGL_ARMS),), _stoggl_checks),
    Trial("taper_bosquet2007", "Bosquet et al. 2007, Med Sci Sports Exerc 39:1358",
          "competitive (intermediate 30 %, advanced 50 %, elite 20 %)",
          "tested performance after the taper vs the pre-taper test",
          "2-week taper, volume −41…60 %, intensity kept: ES 0.59–0.72 (~+3 %) — accept "
          "+1.5…+4 %; dropping intensity gains less; 4 weeks gain less than 2",
          (Cohort("athletes", COMPETITIVE, TAPER_ARMS),), _taper_checks),
    Trial("detraining", "Coyle et al. 1984, J Appl Physiol 57:1857; Mujika & Padilla 2000, "
          "Sports Med 30:79", "trained (advanced 60 %, elite 40 %); beginners",
          "tested performance after 1, 2, 4 weeks off; a 12-week gain after 8 weeks off",
          "VO2max −4…−14 % within 4 weeks; recent gains lost after > 4 weeks — accept 1 wk "
          "−2…+2, 2 wk < 0, 4 wk −4…−12; beginners lose >= 70 % of a 12-week gain",
          DETRAINING_COHORTS, _detraining_checks),
    Trial("heritage1999", "Bouchard et al. 1999, J Appl Physiol 87:1003",
          "sedentary beginners", "tested performance after 20 weeks",
          "VO2max +384 ± 202 mL/min (~+17 %), ~0 to > 1 L/min — accept mean +12…+22 %, "
          "SD >= 40 % of the mean, >= 5 % below 1/4 of the mean",
          (Cohort("sedentary", {"beginner": 1.0}, (HERITAGE_ARM,)),), _heritage_checks),
    Trial("overload_aubry2014", "Aubry et al. 2014, Med Sci Sports Exerc 46:1769",
          "trained triathletes (intermediate 30 %, advanced 60 %, elite 10 %)",
          "tested performance after the overload and after the taper, vs after week 1",
          "11/23 F-OR; AF +2.6 % over F-OR and control after the taper; infections 70 % F-OR, "
          "20 % AF, 10 % control — accept as the issue's band (see checks)",
          (Cohort("triathletes", TRIATHLETES, AUBRY_ARMS),), _aubry_checks),
    Trial("season_levels", "diminishing returns (DESIGN §3)", "every level, 25 % each",
          "tested performance after 180 days of the polarised baseline",
          "beginners gain most, elites least — accept beginners +8…+20 %, elites +0.5…+3 %, "
          "intermediate and advanced in between",
          (Cohort("levels", {name: 0.25 for name in LEVELS}, baseline="polarized", days=180,
                  completion=None),),
          _season_checks),
)
TRIAL_IDS: tuple[str, ...] = tuple(t.id for t in TRIALS)


# ----------------------------------------------------------------------------- running


def cohort_config(config: WorldConfig, cohort: Cohort) -> WorldConfig:
    """The evaluation world for a cohort: its season length, no race, its archetype mix,
    for per-protocol completers their completion, and for a supervised study only the
    illness and injury rules of the safety mask."""
    names = config.population.archetype_names
    unknown = set(cohort.population) - set(names)
    if unknown:
        raise ValueError(f"cohort {cohort.name}: unknown archetypes {sorted(unknown)} "
                         f"(the world has {', '.join(names)})")
    weights = tuple(float(cohort.population.get(name, 0.0)) for name in names)
    world = evaluation_config(config, cohort.season_days, race_probability=0.0)
    archetypes = world.population.archetypes
    if cohort.completion is not None:
        archetypes = tuple(dataclasses.replace(a, completion=tuple(cohort.completion))
                           for a in archetypes)
    safety = dataclasses.replace(world.safety, coach_rules=world.safety.coach_rules
                                 and not cohort.supervised)
    return dataclasses.replace(world, safety=safety, population=dataclasses.replace(
        world.population, heldout_weights=weights, archetypes=archetypes))


def cohort_policies(config: WorldConfig, cohort: Cohort) -> dict[str, Policy]:
    if cohort.baseline is not None:
        return {cohort.baseline: make_baseline(cohort.baseline, config)}
    return {arm.name: calendar_policy(config, arm) for arm in cohort.arms}


def run_trial(trial: Trial, config: WorldConfig, num_athletes: int = 200,
              seed: int = 0) -> TrialResult:
    """Runs every cohort's arms on the same held-out athletes and draws; checks the result."""
    outcomes: Outcomes = {}
    for cohort in trial.cohorts:
        world = cohort_config(config, cohort)
        for name, traj in run_policies(cohort_policies(world, cohort), world, num_athletes,
                                       seed).items():
            outcomes[f"{cohort.name}/{name}"] = traj
    return TrialResult(trial.id, trial.study, trial.endpoint, trial.published,
                       tuple(trial.checks(outcomes)))


def select(ids: Sequence[str] | None = None) -> tuple[Trial, ...]:
    """The trials with these ids (all of them for None), with a clear error for an unknown id."""
    if not ids:
        return TRIALS
    unknown = [i for i in ids if i not in TRIAL_IDS]
    if unknown:
        raise ValueError(f"unknown trial {', '.join(unknown)}: choose from {', '.join(TRIAL_IDS)}")
    return tuple(t for t in TRIALS if t.id in ids)


def run_trials(config: WorldConfig, num_athletes: int = 200, seed: int = 0,
               ids: Sequence[str] | None = None,
               progress: Callable[[str], None] | None = None) -> dict[str, TrialResult]:
    results = {}
    for trial in select(ids):
        if progress is not None:
            progress(trial.id)
        results[trial.id] = run_trial(trial, config, num_athletes, seed)
    return results


def summary_json(results: Mapping[str, TrialResult]) -> dict:
    """{"trials": {id: {published, simulated, ci, pass}}, "passed": n, "total": m}."""
    def number(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 3)

    trials = {tid: {"published": r.published, "simulated": number(r.headline.value),
                    "ci": [number(r.headline.ci[0]), number(r.headline.ci[1])],
                    "pass": r.passed,
                    "checks": {c.name: {"value": number(c.value), "band": c.band, "pass": c.ok}
                               for c in r.checks}}
              for tid, r in results.items()}
    return {"trials": trials, "passed": sum(r.passed for r in results.values()),
            "total": len(results)}


__all__ = ["Check", "Cohort", "TRIALS", "TRIAL_IDS", "Trial", "TrialResult", "change",
           "cohort_config", "in_band", "run_trial", "run_trials", "select", "summary_json"]
