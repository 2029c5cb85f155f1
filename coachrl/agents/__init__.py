"""Coaches: the policy interface, baselines and (next) the learners."""

from coachrl.agents.policy import Policy, PolicyActor

__all__ = ["Policy", "PolicyActor"]
