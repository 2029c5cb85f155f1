"""Discrete multi-categorical MPO (Abdolmaleki et al. 2018): config, losses, update, acting."""

from coachrl.agents.mpo.acting import make_actor_step, make_policy
from coachrl.agents.mpo.config import MPOConfig
from coachrl.agents.mpo.learning import (
    TrainingState,
    Transition,
    add_observations,
    init_training_state,
    make_optimizers,
    make_update,
)

__all__ = ["MPOConfig", "TrainingState", "Transition", "add_observations",
           "init_training_state", "make_actor_step", "make_optimizers", "make_policy",
           "make_update"]
