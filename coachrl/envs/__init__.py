"""Environment adapters over the simulated athlete world.

`CoachEnv` (dm_env, one athlete) and `GymCoachEnv` (gymnasium, the same env).
"""

from coachrl.envs.dm_env_adapter import POPULATIONS, CoachEnv
from coachrl.envs.gym_adapter import GymCoachEnv

__all__ = ["POPULATIONS", "CoachEnv", "GymCoachEnv"]
