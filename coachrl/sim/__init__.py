"""The simulated athlete world (pure JAX). See `coachrl.sim.world.AthleteWorld`."""

from coachrl.sim.config import WorldConfig
from coachrl.sim.features import (
    FEATURE_NAMES,
    History,
    compute_features,
    feature_names,
    init_history,
    log_day,
    observe_morning,
    update_history,
)
from coachrl.sim.population import AthleteParams, sample_athlete
from coachrl.sim.record import DailyRecord, empty_record
from coachrl.sim.safety import (
    RULE_NAMES,
    action_mask,
    nearest_allowed,
    observe,
    reasons,
    safety_mask,
)
from coachrl.sim.sessions import SESSION_NAMES, SESSION_TYPES
from coachrl.sim.world import (
    FIRST,
    LAST,
    MID,
    REWARD_COMPONENTS,
    AthleteWorld,
    TimeStep,
    WorldState,
)

__all__ = [
    "AthleteParams", "AthleteWorld", "DailyRecord", "FEATURE_NAMES", "FIRST", "History", "LAST",
    "MID", "REWARD_COMPONENTS", "RULE_NAMES", "SESSION_NAMES", "SESSION_TYPES", "TimeStep",
    "WorldConfig", "WorldState", "action_mask", "compute_features", "empty_record",
    "feature_names", "init_history", "log_day", "nearest_allowed", "observe", "observe_morning",
    "reasons", "safety_mask", "sample_athlete", "update_history",
]
