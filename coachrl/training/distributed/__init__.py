"""The distributed trainer: Acme's actor / replay / learner pattern on Ray and Reverb.

    from coachrl.training.distributed.program import train_distributed
    train_distributed(load_train_config("configs/ppo.yaml"), "runs/dist", num_actors=4)

Actors (`actor.py`) step several athletes (or dm_env instances) with a jitted
policy and write fixed-length sequences to a Reverb server (`replay.py`: a queue
table for PPO, a uniform table with a samples-per-insert rate limiter for MPO)
through a trajectory writer; they pull the learner's parameters every few steps.
The learner (`learner.py`) samples batches, applies the SAME pure update as the
jitted trainer (`agents.py` turns sequences into its batches), serves its
parameters and writes checkpoints. An evaluator scores the parameters on
held-out athletes; a counter aggregates steps. `program.py` starts them all as
Ray actors, restarts those that die, and stops them cleanly.

This package is the only one that imports Ray, Reverb or TensorFlow; this file
imports none of them, so `agents.py` and `environments.py` stay cheap to import.
"""
