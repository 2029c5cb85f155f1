"""Trainers: the jitted single-machine trainer (anakin) and, later, the distributed one."""
