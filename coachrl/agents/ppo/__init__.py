"""Multi-categorical PPO (Schulman et al. 2017): config, losses, pure update, acting.

The names are re-exported lazily (PEP 562): importing `coachrl.agents.ppo.config` (as the
run configs and the daily coach do) does not import the learner and its optimiser.
"""

import importlib

_EXPORTS = {
    "ActorOutput": "acting", "make_actor_step": "acting", "make_policy": "acting",
    "PPOConfig": "config",
    "Batch": "learning", "TrainingState": "learning", "init_training_state": "learning",
    "make_optimizer": "learning", "make_update": "learning",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = ["ActorOutput", "Batch", "PPOConfig", "TrainingState", "init_training_state",
           "make_actor_step", "make_optimizer", "make_policy", "make_update"]
