"""Discrete multi-categorical MPO (Abdolmaleki et al. 2018): config, losses, update, acting.

The names are re-exported lazily (PEP 562): importing `coachrl.agents.mpo.config` (as the
run configs and the daily coach do) does not import the learner and its optimisers.
"""

import importlib

_EXPORTS = {
    "make_actor_step": "acting", "make_policy": "acting",
    "MPOConfig": "config",
    "TrainingState": "learning", "Transition": "learning", "add_observations": "learning",
    "init_training_state": "learning", "make_optimizers": "learning", "make_update": "learning",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = ["MPOConfig", "TrainingState", "Transition", "add_observations",
           "init_training_state", "make_actor_step", "make_optimizers", "make_policy",
           "make_update"]
