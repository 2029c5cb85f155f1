"""Virtual trials of published training studies (see `coachrl.validation.trials`)."""

from coachrl.validation.protocols import Arm, calendar_policy, week
from coachrl.validation.trials import TRIAL_IDS, TRIALS, Trial, TrialResult, run_trial, run_trials

__all__ = ["Arm", "TRIALS", "TRIAL_IDS", "Trial", "TrialResult", "calendar_policy", "run_trial",
           "run_trials", "week"]
