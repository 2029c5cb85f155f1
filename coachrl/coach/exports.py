"""Exports of the daily coach's plan: a Zwift workout, a FIT workout, an iCalendar week.

    zwo = zwift_workout(plan, athlete)      # str: a Zwift .zwo XML workout
    fit = fit_workout(plan, athlete)        # bytes: a Garmin FIT workout file
    ics = calendar(week, athlete_id)        # bytes: an iCalendar (RFC 5545) file

The steps are the plan's (`coachrl.coach.plan.workout_steps`, the session catalogue's
structure); their targets come from the catalogue's zones (`coachrl.sim.sessions`): the main
set and the work intervals at the session type's `power_zone` / `hr_zone`, warm-up, cool-down
and recoveries at `EASY_ZONE` of threshold power or, in heart rate, at the active-recovery
type's `hr_zone` (`EASY_HR_ZONE`, the catalogue's heart rate of an easy spin).

Zwift (`.zwo`): power as a fraction of FTP (Zwift applies the rider's own FTP). The warm-up
is a `Warmup` ramp up through the easy zone, the cool-down a `Cooldown` ramp down through it
(from `PowerLow` to `PowerHigh`, as Zwift reads them), a continuous main set a
`SteadyState` at the middle of the zone, and work intervals with their recoveries one
`IntervalsT` (`OnPower` the middle of the zone, `OffPower` the middle of the easy zone).
Only bike sessions are exported: a rest day (nothing to export) and strength (not a bike
workout) raise `ExportError`.

FIT workout: `file_id` (type workout), one `workout` message (name, sport, number of steps)
and one `workout_step` per plan step, each of duration type `time` (the step's minutes).
Targets are the athlete's own: power in W (FIT's "watts + 1000" encoding) when the athlete
has a threshold power, else heart rate in bpm ("bpm + 100") when they have a threshold heart
rate, else power in % of FTP (the device applies its own FTP). Strength steps are open
(sport `training`). A rest day raises `ExportError`.

iCalendar: one all-day event per planned day (rest days included), UID
`coachrl-{athlete}-{date}@coachrl` (stable: a re-export updates the same events),
the summary the session and minutes, the description its steps, habits and reasons. Line
folding (75 octets) and escaping of `,` `;` `\\` and newlines are the `icalendar` library's.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from garmin_fit_sdk import Encoder, Profile
from icalendar import Calendar, Event

from coachrl.coach.plan import Plan, Step
from coachrl.coach.store import Athlete
from coachrl.sim.sessions import EASY_HR_ZONE, EASY_ZONE, SESSION_NAMES, SESSION_TYPES

AUTHOR = "CoachRL"
PRODID = "-//CoachRL//daily coach//EN"
MESG = Profile["mesg_num"]
FIT_POWER_W_OFFSET = 1000  # FIT custom power targets: 0-1000 = % FTP, above = W + 1000
FIT_HR_BPM_OFFSET = 100  # FIT custom heart-rate targets: 0-100 = % max HR, above = bpm + 100


class ExportError(ValueError):
    """A plan that cannot be exported in the asked format (e.g. a rest day)."""


def _session(plan: Plan):
    if plan.session not in SESSION_NAMES:
        raise ExportError(f"{plan.date.isoformat()}: unknown session type {plan.session!r}; "
                          f"known: {', '.join(SESSION_NAMES)}")
    return SESSION_TYPES[SESSION_NAMES.index(plan.session)]


def _nothing_to_export(plan: Plan, what: str) -> None:
    if plan.session == "rest" or not plan.steps:
        raise ExportError(f"{plan.date.isoformat()}: a rest day, no workout to export as "
                          f"{what}")


def is_work(step: Step) -> bool:
    """Whether a plan step is the session's main work (main set or a work interval), not
    warm-up, cool-down or a recovery (the names of `coachrl.coach.plan.workout_steps`)."""
    return step.name == "main set" or step.name.startswith("interval")


def step_power(plan: Plan, step: Step) -> tuple[float, float]:
    """The step's target as fractions of threshold power (FTP)."""
    return _session(plan).power_zone if is_work(step) else EASY_ZONE


def step_heart_rate(plan: Plan, step: Step) -> tuple[float, float]:
    """The step's target as fractions of threshold heart rate (LTHR)."""
    return _session(plan).hr_zone if is_work(step) else EASY_HR_ZONE


def _seconds(step: Step) -> int:
    return round(step.minutes * 60)


def _mid(zone: tuple[float, float]) -> float:
    return (zone[0] + zone[1]) / 2.0


def _title(plan: Plan) -> str:
    return plan.label + (f" {plan.minutes:.0f} min" if plan.minutes else "")


def _step_lines(plan: Plan) -> list[str]:
    return [f"{s.name}: {s.minutes:g} min at {s.target}" for s in plan.steps]


# ---------------------------------------------------------------------------------------------
# Zwift


def _is_pair(steps: Sequence[Step], i: int) -> bool:
    """Whether steps i, i + 1 are a work interval and its recovery."""
    return i + 1 < len(steps) and steps[i].name.startswith("interval") \
        and steps[i + 1].name == "recovery"


def zwift_workout(plan: Plan, athlete: Athlete | None = None) -> str:
    """The plan as a Zwift `.zwo` workout (XML text; module docstring). ExportError on a rest
    day or a strength session. `athlete` only adds the targets in their units to the
    description (the steps are the plan's)."""
    _nothing_to_export(plan, "a Zwift workout")
    if _session(plan).power_zone == (0.0, 0.0):
        raise ExportError(f"{plan.date.isoformat()}: {plan.label} is not a bike workout; "
                          f"Zwift workouts are for bike sessions")
    root = ET.Element("workout_file")
    ET.SubElement(root, "author").text = AUTHOR
    ET.SubElement(root, "name").text = f"{plan.date.isoformat()} {_title(plan)}"
    who = f" for {athlete.name or athlete.id}" if athlete is not None else ""
    ET.SubElement(root, "description").text = "\n".join(
        [f"CoachRL plan{who}: {_title(plan)}.", *_step_lines(plan)])
    ET.SubElement(root, "sportType").text = "bike"
    workout = ET.SubElement(root, "workout")

    def f(x: float) -> str:
        return f"{x:.3f}"

    steps, i = list(plan.steps), 0
    while i < len(steps):
        step = steps[i]
        if step.name.startswith("warm-up"):
            ET.SubElement(workout, "Warmup", Duration=str(_seconds(step)),
                          PowerLow=f(EASY_ZONE[0]), PowerHigh=f(EASY_ZONE[1]))
        elif step.name.startswith("cool-down"):
            ET.SubElement(workout, "Cooldown", Duration=str(_seconds(step)),
                          PowerLow=f(EASY_ZONE[1]), PowerHigh=f(EASY_ZONE[0]))
        elif _is_pair(steps, i):
            on, off = steps[i], steps[i + 1]
            repeat = 1  # the pairs that follow with the same durations: one IntervalsT
            while _is_pair(steps, i + 2 * repeat) and \
                    (_seconds(steps[i + 2 * repeat]), _seconds(steps[i + 2 * repeat + 1])) \
                    == (_seconds(on), _seconds(off)):
                repeat += 1
            ET.SubElement(workout, "IntervalsT", Repeat=str(repeat),
                          OnDuration=str(_seconds(on)), OffDuration=str(_seconds(off)),
                          OnPower=f(_mid(step_power(plan, on))),
                          OffPower=f(_mid(step_power(plan, off))))
            i += 2 * repeat
            continue
        else:  # main set, a lone interval or recovery
            ET.SubElement(workout, "SteadyState", Duration=str(_seconds(step)),
                          Power=f(_mid(step_power(plan, step))))
        i += 1
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------------------------
# FIT workout


def _fit_target(plan: Plan, step: Step, athlete: Athlete | None) -> dict[str, object]:
    if _session(plan).power_zone == (0.0, 0.0):  # strength: no endurance target
        return {"target_type": "open"}
    ftp = athlete.threshold_power_w if athlete is not None else None
    lthr = athlete.threshold_hr if athlete is not None else None
    if ftp:
        low, high = step_power(plan, step)
        return {"target_type": "power", "target_value": 0,
                "custom_target_value_low": round(low * ftp) + FIT_POWER_W_OFFSET,
                "custom_target_value_high": round(high * ftp) + FIT_POWER_W_OFFSET}
    if lthr:
        low, high = step_heart_rate(plan, step)
        return {"target_type": "heart_rate", "target_value": 0,
                "custom_target_value_low": round(low * lthr) + FIT_HR_BPM_OFFSET,
                "custom_target_value_high": round(high * lthr) + FIT_HR_BPM_OFFSET}
    low, high = step_power(plan, step)
    return {"target_type": "power", "target_value": 0,
            "custom_target_value_low": round(low * 100),
            "custom_target_value_high": round(high * 100)}


def _intensity(step: Step) -> str:
    if step.name.startswith("warm-up"):
        return "warmup"
    if step.name.startswith("cool-down"):
        return "cooldown"
    return "active" if is_work(step) else "recovery"


def fit_workout(plan: Plan, athlete: Athlete | None = None) -> bytes:
    """The plan as a FIT workout file (module docstring), encoded with Garmin's FIT SDK.
    ExportError on a rest day."""
    _nothing_to_export(plan, "a FIT workout")
    strength = _session(plan).power_zone == (0.0, 0.0)
    created = dt.datetime.combine(plan.date, dt.time(), dt.UTC)  # the same bytes every time
    encoder = Encoder()
    encoder.write_mesg({"mesg_num": MESG["FILE_ID"], "type": "workout",
                        "manufacturer": "development", "product": 0, "serial_number": 1,
                        "time_created": created})
    encoder.write_mesg({"mesg_num": MESG["WORKOUT"], "wkt_name": _title(plan)[:40],
                        "sport": "training" if strength else "cycling",
                        "num_valid_steps": len(plan.steps)})
    for index, step in enumerate(plan.steps):
        encoder.write_mesg({"mesg_num": MESG["WORKOUT_STEP"], "message_index": index,
                            "wkt_step_name": step.name[:40], "duration_type": "time",
                            "duration_value": _seconds(step) * 1000,  # ms (duration_time, s)
                            **_fit_target(plan, step, athlete),
                            "intensity": _intensity(step), "notes": step.target[:50]})
    return encoder.close()


# ---------------------------------------------------------------------------------------------
# iCalendar


def _description(plan: Plan) -> str:
    lines = _step_lines(plan) or ["Rest day."]
    if plan.habits:
        lines.append("Habits: " + "; ".join(f"{k} {v}" for k, v in plan.habits.items()))
    if plan.reasons:
        lines.append("Why: " + "; ".join(plan.reasons))
    return "\n".join(lines)


def calendar(week: Sequence[Plan], athlete_id: str, stamp: dt.datetime | None = None
             ) -> bytes:
    """The plans as an iCalendar (RFC 5545) file written with the `icalendar` library: one
    all-day event per plan (module docstring). `stamp` is the DTSTAMP (default: now, UTC)."""
    stamp = stamp or dt.datetime.now(dt.UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    for plan in week:
        event = Event()
        event.add("uid", f"coachrl-{athlete_id}-{plan.date.isoformat()}@coachrl")
        event.add("dtstamp", stamp)
        event.add("dtstart", plan.date)
        event.add("dtend", plan.date + dt.timedelta(days=1))
        event.add("summary", _title(plan))
        event.add("description", _description(plan))
        event.add("transp", "TRANSPARENT")  # a plan does not block the day
        cal.add_component(event)
    return cal.to_ical()


__all__ = ["EASY_HR_ZONE", "ExportError", "calendar", "fit_workout", "is_work",
           "step_heart_rate", "step_power", "zwift_workout"]
