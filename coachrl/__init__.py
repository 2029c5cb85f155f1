"""CoachRL: reinforcement-learning coaches trained in simulation."""

__version__ = "0.1.0"
