"""Multi-categorical PPO (Schulman et al. 2017): config, losses, pure update, acting."""

from coachrl.agents.ppo.acting import ActorOutput, make_actor_step, make_policy
from coachrl.agents.ppo.config import PPOConfig
from coachrl.agents.ppo.learning import (
    Batch,
    TrainingState,
    init_training_state,
    make_optimizer,
    make_update,
)

__all__ = ["ActorOutput", "Batch", "PPOConfig", "TrainingState", "init_training_state",
           "make_actor_step", "make_optimizer", "make_policy", "make_update"]
