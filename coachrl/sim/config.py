"""The world config: every number the simulated athlete world uses.

`configs/world/default.yaml` is the single source of the values, with a
comment on every key giving its meaning and source; these dataclasses give
the types and allowed ranges. Derived sizes are properties, never stored.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from coachrl.schema import ConfigError, Section, param, require
from coachrl.sim.sessions import (
    NUM_SESSION_TYPES,
    NUM_ZONES,
    ZONE_NAMES,
    habitual_session_shares,
)

Range = tuple[float, float]


def _check_ranges(section: object) -> None:
    for f in dataclasses.fields(section):  # type: ignore[arg-type]
        value = getattr(section, f.name)
        if isinstance(value, tuple) and len(value) == 2 and value[0] > value[1]:
            raise ConfigError(f"{f.name}: range [{value[0]}, {value[1]}] has lo > hi")


@dataclasses.dataclass(frozen=True)
class EpisodeConfig(Section):
    """Season length and the optional race day."""

    min_days: int = param(lo=7, hi=730)
    max_days: int = param(lo=7, hi=730)
    race_probability: float = param(lo=0.0, hi=1.0)
    race_window_days: int = param(lo=1, hi=365)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.min_days <= self.max_days,
                f"max_days: {self.max_days} must be >= min_days ({self.min_days})")
        require(self.race_window_days <= self.min_days,
                f"race_window_days: {self.race_window_days} must be <= min_days ({self.min_days})")


@dataclasses.dataclass(frozen=True)
class ActionsConfig(Section):
    """The duration head (session types come from `coachrl.sim.sessions`)."""

    durations_min: tuple[float, ...] = param(lo=5.0, hi=600.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(len(self.durations_min) >= 1, "durations_min: needs at least one bucket")
        require(list(self.durations_min) == sorted(set(self.durations_min)),
                f"durations_min: {list(self.durations_min)} must be strictly increasing")

    def duration_index(self, minutes: float) -> int:
        """The duration bucket nearest to `minutes`."""
        return min(range(len(self.durations_min)),
                   key=lambda i: abs(self.durations_min[i] - minutes))


EFFECTS = ("none", "sleep", "mobility", "stress")  # a habit's physiology channel
MAX_HABIT_LEVELS = 20


@dataclasses.dataclass(frozen=True)
class HabitConfig(Section):
    """One daily habit of a person's habit file (`configs/habits/*.yaml`).

    The goal is either `days_per_week` days at `amount` (a day counts once, however
    much more is done) or a `weekly_amount`; `minutes` is the time it takes, per
    unit (one number) or per level (one per level).
    """

    name: str
    unit: str
    levels: tuple[float, ...] = param(lo=0.0)
    minutes: float | tuple[float, ...] = param(lo=0.0)
    days_per_week: float | None = param(None, lo=0.5, hi=7.0)
    amount: float | None = param(None, lo=1e-3)
    weekly_amount: float | None = param(None, lo=1e-3)
    effect: Literal["none", "sleep", "mobility", "stress"] = "none"
    default_level: int = param(0, lo=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(self.levels)
        require(2 <= n <= MAX_HABIT_LEVELS,
                f"levels: habit '{self.name}' needs 2 to {MAX_HABIT_LEVELS} amounts, got {n}")
        require(all(a < b for a, b in zip(self.levels, self.levels[1:])),
                f"levels: habit '{self.name}': {list(self.levels)} must be strictly increasing")
        require(self.default_level <= n - 1,
                f"default_level: habit '{self.name}': {self.default_level} must index levels "
                f"(0..{n - 1})")
        if isinstance(self.minutes, tuple):
            require(len(self.minutes) == n,
                    f"minutes: habit '{self.name}' has {n} levels but {len(self.minutes)} "
                    "minutes (give one per level, or one number per unit)")
        by_days = self.days_per_week is not None or self.amount is not None
        require(by_days != (self.weekly_amount is not None),
                f"days_per_week: habit '{self.name}' needs a goal: either days_per_week and "
                "amount, or weekly_amount (not both)")
        if by_days:
            require(self.days_per_week is not None and self.amount is not None,
                    f"amount: habit '{self.name}': days_per_week and amount go together")
            require(self.amount <= self.levels[-1],
                    f"amount: habit '{self.name}': {self.amount:g} is more than its top level "
                    f"({self.levels[-1]:g})")
        else:
            require(self.weekly_amount <= 7 * self.levels[-1],
                    f"weekly_amount: habit '{self.name}': {self.weekly_amount:g} is more than "
                    f"7 x its top level ({self.levels[-1]:g})")

    @property
    def day_cap(self) -> float:
        """The most of one day's amount that counts toward the goal (inf for weekly amounts)."""
        return self.amount if self.days_per_week is not None else float("inf")

    @property
    def daily_goal(self) -> float:
        """The amount a day that holds the EMA at 1: done x 7 / (N x amount) or x 7 / weekly."""
        return self.weekly_goal / 7.0

    @property
    def weekly_goal(self) -> float:
        """The goal as an amount a week (N x amount for N days a week)."""
        if self.days_per_week is not None:
            return self.days_per_week * self.amount
        return self.weekly_amount

    @property
    def goal_amount(self) -> float:
        """The amount of a day that meets the goal: `amount`, or the weekly amount / 7."""
        return self.amount if self.days_per_week is not None else self.weekly_amount / 7.0

    @property
    def goal_level(self) -> int:
        """The level whose amount is closest to a day's goal amount."""
        return min(range(len(self.levels)), key=lambda i: abs(self.levels[i] - self.goal_amount))

    @property
    def level_minutes(self) -> tuple[float, ...]:
        """Minutes each level takes."""
        if isinstance(self.minutes, tuple):
            return self.minutes
        return tuple(self.minutes * level for level in self.levels)


@dataclasses.dataclass(frozen=True)
class HabitGroupConfig(Section):
    """Mutually exclusive habits: at most `at_most` of them a day (above their lowest level)."""

    name: str
    habits: tuple[str, ...]
    at_most: int = param(1, lo=1)


@dataclasses.dataclass(frozen=True)
class HabitsConfig(Section):
    """A person's habit file: the habits, their groups and the day's time budget."""

    alpha: float = param(lo=1e-4, hi=1.0)
    items: tuple[HabitConfig, ...] = ()
    groups: tuple[HabitGroupConfig, ...] = ()
    time_budget_min: float | None = param(None, lo=10.0, hi=1440.0)
    coached: tuple[str, ...] | None = None
    # The person's target body weight [low, high] kg, or None. The world has no body
    # weight: the daily coach counts the band in its alignment (`habits.weight_score`).
    weight_band_kg: tuple[float, ...] | None = param(None, lo=20.0, hi=400.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weight_band_kg is not None:
            band = self.weight_band_kg
            require(len(band) == 2 and band[0] < band[1],
                    f"weight_band_kg: expected [low, high] with low < high, got {list(band)}")
        names = [h.name for h in self.items]
        require(len(names) == len(set(names)), f"items: habit names must be unique, got {names}")
        for effect in EFFECTS[1:]:
            n = sum(h.effect == effect for h in self.items)
            require(n <= 1, f"items: at most one habit may have effect '{effect}' (found {n})")
        for i, g in enumerate(self.groups):
            unknown = [h for h in g.habits if h not in names]
            require(not unknown, f"groups[{i}].habits: group '{g.name}' names unknown habits "
                                 f"{unknown}; habits: {names}")
            require(len(set(g.habits)) == len(g.habits) and len(g.habits) >= 2,
                    f"groups[{i}].habits: group '{g.name}' needs 2 or more different habits")
            require(g.at_most < len(g.habits),
                    f"groups[{i}].at_most: group '{g.name}': {g.at_most} of {len(g.habits)} "
                    "habits is no limit")
        if self.coached is not None:
            unknown = [h for h in self.coached if h not in names]
            require(not unknown, f"coached: unknown habits {unknown}; habits: {names}")
        if self.time_budget_min is not None:
            least = sum(h.level_minutes[0] for h in self.items)
            require(least <= self.time_budget_min,
                    f"time_budget_min: {self.time_budget_min:g} min is less than the habits take "
                    f"at their lowest levels ({least:g} min)")

    def is_coached(self, name: str) -> bool:
        """Whether the coach prescribes this habit (else it is held at its default level)."""
        return self.coached is None or name in self.coached


@dataclasses.dataclass(frozen=True)
class CommonRanges(Section):
    """Individual parameters drawn uniformly from [lo, hi] for every archetype."""

    aerobic_ceiling: Range = param(lo=0.0, hi=3.0)
    vo2_ceiling: Range = param(lo=0.0, hi=3.0)
    fatigue_days: Range = param(lo=1.0, hi=30.0)
    strain_tolerance: Range = param(lo=0.5, hi=3.0)
    hrv_day_sd: Range = param(lo=0.01, hi=1.0)
    sleep_need_h: Range = param(lo=4.0, hi=12.0)
    interval_affinity: Range = param(lo=-5.0, hi=5.0)
    long_affinity: Range = param(lo=-5.0, hi=5.0)
    habit_adherence: Range = param(lo=0.0, hi=1.0)
    missing_prob: Range = param(lo=0.0, hi=1.0)
    illness_susceptibility: Range = param(lo=0.0, hi=10.0)
    stress_sd: Range = param(lo=0.0, hi=3.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self)


@dataclasses.dataclass(frozen=True)
class HabitBehaviourRanges(Section):
    """How each person forms habits and judges their time (drawn from their own stream)."""

    formation_days: Range = param(lo=1.0, hi=1000.0)  # log-uniform
    time_realism: Range = param(lo=0.05, hi=1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self)


@dataclasses.dataclass(frozen=True)
class ArchetypeConfig(Section):
    """An athlete level: its share of the population and level-dependent ranges."""

    name: str
    weight: float = param(lo=0.0)
    p0: Range = param(lo=10.0, hi=1000.0)
    retention: Range = param(lo=0.0, hi=0.95)
    habitual_threshold: Range = param(lo=0.0, hi=1.0)
    habitual_high: Range = param(lo=0.0, hi=1.0)
    initial_ctl: Range = param(lo=0.0, hi=200.0)
    time_budget_min: Range = param(lo=10.0, hi=600.0)
    completion: Range = param(lo=-5.0, hi=5.0)
    hrv_base_ms: Range = param(lo=5.0, hi=250.0)
    rhr_base_bpm: Range = param(lo=30.0, hi=100.0)
    injury_susceptibility: Range = param(lo=0.0, hi=10.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self)
        base, _, _ = habitual_session_shares(self.habitual_threshold[1], self.habitual_high[1])
        require(base >= 0.0,
                f"habitual_threshold + habitual_high: archetype '{self.name}' needs more tempo "
                "and HIIT sessions than all of its training time")


@dataclasses.dataclass(frozen=True)
class PopulationConfig(Section):
    common: CommonRanges
    habit_behaviour: HabitBehaviourRanges
    archetypes: tuple[ArchetypeConfig, ...]
    heldout_shift: float = param(lo=-1.0, hi=1.0)
    heldout_weights: tuple[float, ...] = param(lo=0.0)
    trainability_sd: float = param(lo=0.0, hi=2.0)
    trainability_range: Range = param(lo=0.0, hi=10.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(len(self.archetypes) >= 1, "archetypes: needs at least one archetype")
        require(sum(a.weight for a in self.archetypes) > 0, "archetypes: weights sum to 0")
        require(len(self.heldout_weights) == len(self.archetypes) and sum(self.heldout_weights) > 0,
                f"heldout_weights: needs {len(self.archetypes)} weights (one per archetype), "
                "not all zero")

    @property
    def archetype_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.archetypes)


@dataclasses.dataclass(frozen=True)
class AdaptationConfig(Section):
    """Two capacities built by time in each intensity domain (low, threshold, high)."""

    volume_weights: tuple[float, ...] = param(lo=0.0, hi=5.0)
    intensity_weights: tuple[float, ...] = param(lo=0.0, hi=5.0)
    dose_days: float = param(lo=1.0, hi=60.0)
    aerobic_half_dose: float = param(lo=1e-3, hi=10.0)
    vo2_volume_half_dose: float = param(lo=1e-3, hi=10.0)
    vo2_intensity_half_dose: float = param(lo=1e-3, hi=10.0)
    vo2_volume_share: float = param(lo=0.0, hi=1.0)
    maintenance: float = param(lo=0.01, hi=1.0)
    aerobic_build_days: float = param(lo=1.0, hi=1000.0)
    aerobic_detraining_days: float = param(lo=1.0, hi=1000.0)
    vo2_build_days: float = param(lo=1.0, hi=1000.0)
    vo2_detraining_days: float = param(lo=1.0, hi=1000.0)
    realisation_days: float = param(lo=0.0, hi=60.0)
    strain_holds: float = param(lo=0.0, hi=100.0)
    high_intensity_fatigue: float = param(lo=0.0, hi=10.0)
    tolerance_days: float = param(lo=1.0, hi=365.0)
    tolerance_floor_tss: float = param(lo=0.1, hi=200.0)
    fatigue_cost: float = param(lo=0.0, hi=1.0)
    fatigue_max: float = param(lo=0.0, hi=0.9)
    test_easy_days: int = param(lo=0, hi=14)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("volume_weights", "intensity_weights"):
            require(len(getattr(self, name)) == NUM_ZONES,
                    f"{name}: needs {NUM_ZONES} values ({', '.join(ZONE_NAMES)})")


@dataclasses.dataclass(frozen=True)
class OverreachingConfig(Section):
    """Functional and non-functional overreaching: a state driven by accumulated excess strain."""

    functional_at: float = param(lo=0.0, hi=100.0)
    nonfunctional_at: float = param(lo=0.0, hi=100.0)
    recovered_below: float = param(lo=0.0, hi=100.0)
    clear_days: float = param(lo=0.5, hi=100.0)
    nonfunctional_clear_days: float = param(lo=0.5, hi=365.0)
    sleep_debt_strain: float = param(lo=0.0, hi=1.0)
    performance_cut: tuple[float, ...] = param(lo=0.0, hi=0.5)
    adaptation_kept: tuple[float, ...] = param(lo=0.0, hi=1.0)
    hrv_drop: tuple[float, ...] = param(lo=0.0, hi=2.0)
    rhr_rise_bpm: tuple[float, ...] = param(lo=0.0, hi=30.0)
    illness_factor: tuple[float, ...] = param(lo=0.0, hi=20.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.recovered_below < self.functional_at < self.nonfunctional_at,
                "recovered_below < functional_at < nonfunctional_at must hold, got "
                f"{self.recovered_below}, {self.functional_at}, {self.nonfunctional_at}")
        for name in ("performance_cut", "adaptation_kept", "hrv_drop", "rhr_rise_bpm",
                     "illness_factor"):
            require(len(getattr(self, name)) == 2,
                    f"{name}: needs 2 values (functional, non-functional overreaching)")


@dataclasses.dataclass(frozen=True)
class PMCConfig(Section):
    ctl_days: float = param(lo=1.0, hi=365.0)
    atl_days: float = param(lo=1.0, hi=365.0)
    acute_days: int = param(lo=1, hi=28)
    chronic_days: int = param(lo=7, hi=28)
    chronic_floor_tss: float = param(lo=0.1, hi=200.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.acute_days < self.chronic_days,
                f"acute_days: {self.acute_days} must be < chronic_days ({self.chronic_days})")


@dataclasses.dataclass(frozen=True)
class HRVConfig(Section):
    fatigue_drop: float = param(lo=0.0, hi=5.0)
    sleep_debt_drop: float = param(lo=0.0, hi=1.0)
    illness_drop: float = param(lo=0.0, hi=2.0)
    stress_drop: float = param(lo=0.0, hi=1.0)
    stress_autocorrelation: float = param(lo=0.0, hi=0.99)
    breathing_relief: float = param(lo=0.0, hi=3.0)
    autocorrelation: float = param(lo=0.0, hi=0.99)
    rhr_fatigue_bpm: float = param(lo=0.0, hi=40.0)
    rhr_illness_bpm: float = param(lo=0.0, hi=30.0)
    rhr_sleep_debt_bpm: float = param(lo=0.0, hi=10.0)
    rhr_noise_bpm: float = param(lo=0.0, hi=10.0)


@dataclasses.dataclass(frozen=True)
class SleepConfig(Section):
    efficiency: float = param(lo=0.5, hi=1.0)
    efficiency_sd: float = param(lo=0.0, hi=0.2)
    hard_session_cost: float = param(lo=0.0, hi=0.3)
    stress_cost: float = param(lo=0.0, hi=0.3)
    habit_gain: float = param(lo=0.0, hi=0.3)
    debt_decay: float = param(lo=0.0, hi=0.99)
    short_sleep_h: float = param(lo=3.0, hi=10.0)
    short_sleep_performance_cut: float = param(lo=0.0, hi=0.5)


@dataclasses.dataclass(frozen=True)
class RecoveryConfig(Section):
    hrv_weight: float = param(lo=0.0, hi=10.0)
    rhr_weight: float = param(lo=0.0, hi=10.0)
    sleep_weight: float = param(lo=0.0, hi=10.0)
    bias: float = param(lo=-10.0, hi=10.0)


@dataclasses.dataclass(frozen=True)
class RiskConfig(Section):
    injury_base_daily: float = param(lo=0.0, hi=0.2)
    acwr_sweet_spot: Range = param(lo=0.0, hi=5.0)
    acwr_high_slope: float = param(lo=0.0, hi=20.0)
    acwr_low_slope: float = param(lo=0.0, hi=20.0)
    monotony_threshold: float = param(lo=0.5, hi=10.0)
    monotony_gain: float = param(lo=0.0, hi=10.0)
    low_recovery_gain: float = param(lo=0.0, hi=10.0)
    sleep_debt_gain: float = param(lo=0.0, hi=5.0)
    mobility_protection: float = param(lo=0.0, hi=0.9)
    injury_days: Range = param(lo=1.0, hi=120.0)
    illness_base_daily: float = param(lo=0.0, hi=0.2)
    illness_strain_gain: float = param(lo=0.0, hi=20.0)
    illness_stress_gain: float = param(lo=0.0, hi=5.0)
    illness_days: Range = param(lo=1.0, hi=60.0)
    illness_fitness_loss: float = param(lo=0.0, hi=0.2)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self)


@dataclasses.dataclass(frozen=True)
class AdherenceConfig(Section):
    readiness_gain: float = param(lo=0.0, hi=10.0)
    overtime_gain: float = param(lo=0.0, hi=10.0)
    stress_gain: float = param(lo=0.0, hi=10.0)
    long_session_min: float = param(lo=10.0, hi=600.0)
    partial_share: float = param(lo=0.0, hi=1.0)
    partial_fraction: Range = param(lo=0.0, hi=1.0)
    habit_automaticity_gain: float = param(lo=0.0, hi=10.0)
    habit_decay_days: float = param(lo=1.0, hi=10000.0)
    habit_free_count: int = param(lo=0, hi=100)
    habit_count_gain: float = param(lo=0.0, hi=10.0)
    habit_overtime_gain: float = param(lo=0.0, hi=10.0)
    habit_readiness_gain: float = param(lo=0.0, hi=10.0)
    habit_stress_gain: float = param(lo=0.0, hi=10.0)
    habit_hard_day_gain: float = param(lo=0.0, hi=10.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self)


@dataclasses.dataclass(frozen=True)
class ObservationConfig(Section):
    benchmark_every_days: int = param(lo=1, hi=90)
    benchmark_noise: float = param(lo=0.0, hi=0.2)
    hrv_window_days: int = param(lo=14, hi=120)
    hrv_baseline_days: int = param(lo=1, hi=14)
    hrv_min_days: int = param(lo=3, hi=60)
    forward_fill_days: int = param(lo=0, hi=7)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.hrv_min_days <= self.hrv_window_days,
                f"hrv_min_days: {self.hrv_min_days} must be <= hrv_window_days")


@dataclasses.dataclass(frozen=True)
class SafetyConfig(Section):
    low_recovery: float = param(lo=0.0, hi=100.0)
    low_recovery_days: int = param(lo=1, hi=14)
    hrv_sd_below: float = param(lo=0.5, hi=5.0)
    max_hard_in_a_row: int = param(lo=1, hi=14)
    max_days_without_rest: int = param(lo=1, hi=30)
    ramp_factor: float = param(lo=1.0, hi=5.0)
    ramp_floor_min: float = param(lo=5.0, hi=600.0)
    acwr_danger: float = param(lo=1.0, hi=5.0)
    # False: only the illness and injury rules (a supervised study's protocol, as the
    # virtual trials run it); the readiness, streak, rest-day, ramp and ACWR rules are off.
    # Training and the daily coach refuse it.
    coach_rules: bool = True


@dataclasses.dataclass(frozen=True)
class RewardConfig(Section):
    recovery: float = param(lo=0.0)
    adaptation: float = param(lo=0.0)
    performance: float = param(lo=0.0)
    habits: float = param(lo=0.0)
    injury: float = param(lo=0.0)
    illness: float = param(lo=0.0)
    overtraining: float = param(lo=0.0)
    race: float = param(lo=0.0)
    violation: float = param(lo=0.0)


@dataclasses.dataclass(frozen=True)
class WorldConfig(Section):
    """The simulated athlete world (see `configs/world/default.yaml`)."""

    episode: EpisodeConfig
    actions: ActionsConfig
    habits: HabitsConfig
    population: PopulationConfig
    adaptation: AdaptationConfig
    overreaching: OverreachingConfig
    pmc: PMCConfig
    hrv: HRVConfig
    sleep: SleepConfig
    recovery: RecoveryConfig
    risk: RiskConfig
    adherence: AdherenceConfig
    observation: ObservationConfig
    safety: SafetyConfig
    reward: RewardConfig

    @property
    def nvec(self) -> tuple[int, ...]:
        """Number of choices of each action head: session, duration, then habits."""
        return (NUM_SESSION_TYPES, len(self.actions.durations_min)) + tuple(
            len(h.levels) for h in self.habits.items)

    @property
    def head_names(self) -> tuple[str, ...]:
        return ("session", "duration") + tuple(f"habit_{h.name}" for h in self.habits.items)

    @property
    def habit_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.habits.items)

    @property
    def num_habits(self) -> int:
        return len(self.habits.items)
