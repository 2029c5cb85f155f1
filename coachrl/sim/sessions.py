"""The session catalogue: the ONE definition of training session types.

Used by the simulator (load, injury weight), the safety masks (which types
are hard), the baselines, and the daily coach (target zones, structured steps).
Order matters: types are sorted by intensity, so "stepping down" an index is
always an easier session (see `coachrl.sim.safety.nearest_allowed`).

Load: TSS = hours x IF^2 x 100 (Coggan's Training Stress Score). Strength has
no power-based IF; its IF is the session-RPE equivalent RPE/10 (Foster 2001:
session-RPE load = RPE x minutes; RPE 7 ~ IF 0.7).
Zones are Coggan's power / LTHR zones as fractions of the athlete's threshold.

Every type also has its structure (warm-up, main set or intervals, cool-down),
the ONE definition of a session's steps: the daily coach writes them out, and
the simulator's stimulus is the time they spend in each intensity domain of
Seiler's three-zone model (Seiler & Kjerland 2006; Seiler 2010): "low" below the
first threshold (LT1/VT1, < 0.76 x FTP), "threshold" between the thresholds,
"high" above the second (LT2/VT2/critical power, > 1.0 x FTP), with Coggan's
recovery zone (< 0.56 x FTP: warm-ups, recoveries, active recovery) apart. A device file
reports the same quantity (time in zone), so it is part of the daily record.
"""

from __future__ import annotations

from typing import NamedTuple


class Structure(NamedTuple):
    """A session's steps as fractions of its minutes; intervals alternate work and recovery."""

    warm_up: float  # fraction of the session: an easy ramp
    cool_down: float  # fraction of the session: easy
    work_min: float = 0.0  # interval length (min) of the main set; 0: one continuous main set
    recovery_min: float = 0.0  # easy recovery between intervals (min)


EASY_ZONE = (0.45, 0.55)  # warm-up, cool-down and interval recoveries: fraction of threshold
# Seiler's three intensity domains, with Coggan's recovery zone (< 0.56 FTP) split out of "low":
# an easy spin is not endurance training (Coggan & Allen 2010, zone 1 "active recovery").
ZONE_NAMES: tuple[str, ...] = ("recovery", "low", "threshold", "high")
ZONE_EDGES = (0.56, 0.76, 1.0)  # fraction of threshold power where each domain above begins
THRESHOLD_ZONE = ZONE_NAMES.index("threshold")
HIGH_ZONE = ZONE_NAMES.index("high")
NUM_ZONES = len(ZONE_NAMES)


class SessionType(NamedTuple):
    name: str
    label: str
    intensity_factor: float  # whole-session IF (TSS = h * IF^2 * 100)
    hard: bool  # counts towards the hard-days-in-a-row limit; blocked by low HRV
    injury_weight: float  # relative musculoskeletal injury hazard of a session of this type
    power_zone: tuple[float, float]  # fraction of threshold power (FTP) for the main set
    hr_zone: tuple[float, float]  # fraction of lactate-threshold heart rate for the main set
    rpe: float  # typical session RPE (CR-10)
    structure: Structure  # warm-up, main set / intervals, cool-down


SESSION_TYPES: tuple[SessionType, ...] = (
    SessionType("rest", "Rest", 0.0, False, 0.3, (0.0, 0.0), (0.0, 0.0), 0.0, Structure(0.0, 0.0)),
    SessionType("active_recovery", "Active recovery", 0.55, False, 0.6,
                (0.40, 0.55), (0.60, 0.68), 2.0, Structure(0.1, 0.1)),
    SessionType("aerobic_base", "Aerobic base", 0.70, False, 1.0, (0.56, 0.75), (0.69, 0.83), 3.5,
                Structure(0.1, 0.1)),
    # Strength work is not endurance time: no time in an endurance domain (its load is sRPE).
    SessionType("strength", "Strength", 0.70, False, 1.0, (0.0, 0.0), (0.0, 0.0), 7.0,
                Structure(0.1, 0.1)),
    # Threshold: e.g. 3 x 12 min at LT2 in an hour (Stöggl & Sperlich 2014's THR sessions).
    SessionType("tempo", "Tempo / threshold", 0.85, True, 1.3, (0.88, 1.05), (0.90, 1.05), 6.5,
                Structure(0.25, 0.15)),
    # HIIT: 4-min intervals at 90-95 % HRmax with 3-min recoveries (the 4 x 4 of Helgerud 2007).
    SessionType("hiit", "HIIT", 0.90, True, 1.6, (1.06, 1.20), (1.00, 1.10), 8.5,
                Structure(0.25, 0.15, work_min=4.0, recovery_min=3.0)),
)

SESSION_NAMES: tuple[str, ...] = tuple(s.name for s in SESSION_TYPES)
NUM_SESSION_TYPES = len(SESSION_TYPES)
REST, ACTIVE_RECOVERY, AEROBIC_BASE, STRENGTH, TEMPO, HIIT = range(NUM_SESSION_TYPES)
EASY_HR_ZONE = SESSION_TYPES[ACTIVE_RECOVERY].hr_zone  # EASY_ZONE in heart rate (of LTHR)
INTENSITY_FACTORS: tuple[float, ...] = tuple(s.intensity_factor for s in SESSION_TYPES)
HARD: tuple[bool, ...] = tuple(s.hard for s in SESSION_TYPES)
INJURY_WEIGHTS: tuple[float, ...] = tuple(s.injury_weight for s in SESSION_TYPES)


def intensity_zone(fraction_of_threshold: float) -> int:
    """The domain (index into ZONE_NAMES) of an effort at this fraction of threshold power."""
    return sum(fraction_of_threshold >= edge for edge in ZONE_EDGES)


def main_set_zone(session: SessionType) -> int | None:
    """The domain of a session's main set (None for work outside the endurance domains)."""
    if session.power_zone == (0.0, 0.0):
        return None
    return intensity_zone(sum(session.power_zone) / 2.0)


def zone_fractions(session: SessionType) -> tuple[float, ...]:
    """Share of a session's minutes in each domain (ZONE_NAMES), from its structure.

    Warm-up, cool-down and interval recoveries are easy (EASY_ZONE); the main set is in its
    zone's domain for the work share of each interval (all of it when continuous).
    """
    out = [0.0] * NUM_ZONES
    main = main_set_zone(session)
    if main is None:
        return tuple(out)
    st = session.structure
    easy = st.warm_up + st.cool_down
    main_share = 1.0 - easy
    work = (st.work_min / (st.work_min + st.recovery_min)) if st.work_min > 0 else 1.0
    out[intensity_zone(sum(EASY_ZONE) / 2.0)] += easy + main_share * (1.0 - work)
    out[main] += main_share * work
    return tuple(out)


ZONE_FRACTIONS: tuple[tuple[float, ...], ...] = tuple(
    zone_fractions(s) for s in SESSION_TYPES)  # [session type, zone]


HABITUAL_SESSIONS = (AEROBIC_BASE, TEMPO, HIIT)  # what usual training is made of


def habitual_session_shares(threshold_share, high_share):
    """Shares of usual training time in the HABITUAL_SESSIONS (aerobic base, tempo, HIIT).

    An athlete's usual training is made of the catalogue's sessions: the time in the
    threshold domain comes in tempo sessions and the time above LT2 in HIIT sessions, each
    with its warm-up, cool-down and recoveries; the rest is aerobic base. Works on floats
    and arrays; the shares sum to 1 when the domain shares fit in the time.
    """
    tempo = threshold_share / ZONE_FRACTIONS[TEMPO][THRESHOLD_ZONE]
    hiit = high_share / ZONE_FRACTIONS[HIIT][HIGH_ZONE]
    return 1.0 - tempo - hiit, tempo, hiit


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


def zone_minutes(session, minutes):
    """Minutes in each domain (ZONE_NAMES) of `minutes` of `session` ([..., NUM_ZONES])."""
    import jax.numpy as jnp

    return lookup(ZONE_FRACTIONS, session) * jnp.asarray(minutes, jnp.float32)[..., None]


def tss(minutes, intensity_factor):
    """Training Stress Score: hours x IF^2 x 100 (works on floats and arrays)."""
    return minutes / 60.0 * intensity_factor**2 * 100.0
