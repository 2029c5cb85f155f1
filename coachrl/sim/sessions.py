"""The session catalogue: the ONE definition of training session types.

Used by the simulator (load, injury weight), the safety masks (which types
are hard), the baselines, and the daily coach (target zones, structured steps).
Order matters: types are sorted by intensity, so "stepping down" an index is
always an easier session (see `coachrl.sim.safety.nearest_allowed`).

Load: TSS = hours x IF^2 x 100 (Coggan's Training Stress Score). Strength has
no power-based IF; its IF is the session-RPE equivalent RPE/10 (Foster 2001:
session-RPE load = RPE x minutes; RPE 7 ~ IF 0.7).
Zones are Coggan's power / LTHR zones as fractions of the athlete's threshold.
"""

from __future__ import annotations

from typing import NamedTuple


class SessionType(NamedTuple):
    name: str
    label: str
    intensity_factor: float  # whole-session IF (TSS = h * IF^2 * 100)
    hard: bool  # counts towards the hard-days-in-a-row limit; blocked by low HRV
    injury_weight: float  # relative musculoskeletal injury hazard of a session of this type
    power_zone: tuple[float, float]  # fraction of threshold power (FTP) for the main set
    hr_zone: tuple[float, float]  # fraction of lactate-threshold heart rate for the main set
    rpe: float  # typical session RPE (CR-10)


SESSION_TYPES: tuple[SessionType, ...] = (
    SessionType("rest", "Rest", 0.0, False, 0.3, (0.0, 0.0), (0.0, 0.0), 0.0),
    SessionType("active_recovery", "Active recovery", 0.55, False, 0.6,
                (0.40, 0.55), (0.60, 0.68), 2.0),
    SessionType("aerobic_base", "Aerobic base", 0.70, False, 1.0, (0.56, 0.75), (0.69, 0.83), 3.5),
    SessionType("strength", "Strength", 0.70, False, 1.0, (0.0, 0.0), (0.0, 0.0), 7.0),
    SessionType("tempo", "Tempo / threshold", 0.85, True, 1.3, (0.88, 1.05), (0.90, 1.05), 6.5),
    SessionType("hiit", "HIIT", 0.90, True, 1.6, (1.06, 1.20), (1.00, 1.10), 8.5),
)

SESSION_NAMES: tuple[str, ...] = tuple(s.name for s in SESSION_TYPES)
NUM_SESSION_TYPES = len(SESSION_TYPES)
REST, ACTIVE_RECOVERY, AEROBIC_BASE, STRENGTH, TEMPO, HIIT = range(NUM_SESSION_TYPES)
INTENSITY_FACTORS: tuple[float, ...] = tuple(s.intensity_factor for s in SESSION_TYPES)
HARD: tuple[bool, ...] = tuple(s.hard for s in SESSION_TYPES)
INJURY_WEIGHTS: tuple[float, ...] = tuple(s.injury_weight for s in SESSION_TYPES)


def lookup(table, index):
    """table[index] for a small static table, as a one-hot sum.

    Under `vmap` an indexed read becomes an XLA gather, which is slow on CPU;
    a one-hot select over a handful of entries vectorises. Works for a table of
    shape [K] or [K, ...] (index selects along axis 0) and any index shape.
    """
    import jax.numpy as jnp

    table = jnp.asarray(table)
    hot = jnp.asarray(index)[..., None] == jnp.arange(table.shape[0])
    hot = hot.reshape(hot.shape + (1,) * (table.ndim - 1))
    if table.dtype == jnp.bool_:
        return jnp.any(hot & table, axis=jnp.asarray(index).ndim)
    return jnp.sum(jnp.where(hot, table, 0), axis=jnp.asarray(index).ndim).astype(table.dtype)


def tss(minutes, intensity_factor):
    """Training Stress Score: hours x IF^2 x 100 (works on floats and arrays)."""
    return minutes / 60.0 * intensity_factor**2 * 100.0
