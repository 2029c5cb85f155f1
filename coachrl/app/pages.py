"""Server-rendered HTML of the app: plain strings, every value escaped, CSS inline, nothing
loaded from elsewhere."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from coachrl.app.charts import CHARTS
from coachrl.coach.plan import Plan
from coachrl.sim.sessions import SESSION_NAMES

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f4f6f9}
header{background:#1f3b5c;color:#fff;padding:.6em 1.2em}
header a{color:#fff;text-decoration:none;margin-right:1.2em}
main{max-width:980px;margin:0 auto;padding:1em}
.card{background:#fff;border-radius:8px;padding:1em 1.2em;margin:0 0 1em;
box-shadow:0 1px 3px #0002}
h1{font-size:1.4em;margin:.2em 0 .5em}h2{font-size:1.1em;margin:.2em 0 .6em}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25em .5em;
border-bottom:1px solid #e3e7ee;vertical-align:top}
.big{font-size:1.6em;font-weight:600}.muted{color:#667}
.notice{background:#e4f4e7;border-left:4px solid #3a9a4a;padding:.6em 1em;margin-bottom:1em}
.error{background:#fbe9e7;border-left:4px solid #b3261e;padding:.6em 1em;margin-bottom:1em}
img.chart{width:100%;height:auto;display:block}
form.log label{display:inline-block;margin:.2em 1em .4em 0}
form.log input[type=number]{width:6em}
button{background:#1f5fa8;color:#fff;border:0;border-radius:5px;padding:.5em 1.2em;
font-size:1em;cursor:pointer}
ul{margin:.2em 0;padding-left:1.3em}
"""


def page(title: str, body: str, athlete_id: str | None = None) -> str:
    nav = '<a href="/">Athletes</a>'
    if athlete_id is not None:
        a = quote(athlete_id)
        nav += (f'<a href="/athletes/{a}">Today</a>'
                f'<a href="/athletes/{a}/history">History</a>')
    nav += '<a href="/docs">API</a>'
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{escape(title)} - CoachRL</title><style>{CSS}</style></head>'
            f'<body><header><b>CoachRL</b> &nbsp; {nav}</header><main>{body}</main>'
            f'</body></html>')


def error_page(status: int, message: str) -> str:
    return page(f"Error {status}", f'<h1>Error {status}</h1><div class="error">'
                f'{escape(message)}</div><p><a href="/">Back to the athletes</a></p>')


def athletes_page(ids: Sequence[str]) -> str:
    if ids:
        items = "".join(f'<li><a href="/athletes/{quote(i)}">{escape(i)}</a> &middot; '
                        f'<a href="/athletes/{quote(i)}/history">history</a></li>' for i in ids)
        body = f"<ul>{items}</ul>"
    else:
        body = ('<p class="muted">No athlete in the store yet: add one with '
                '<code>coachrl import</code> or <code>scripts/make_demo_log.py</code>.</p>')
    return page("Athletes", f'<h1>Athletes</h1><div class="card">{body}</div>')


def _plan_card(plan: Plan) -> str:
    minutes = f"{plan.minutes:.0f} min &middot; {plan.load_tss:.0f} TSS" if plan.minutes else ""
    steps = "".join(f"<tr><td>{escape(s.name)}</td><td>{s.minutes:g} min</td>"
                    f"<td>{escape(s.target)}</td></tr>" for s in plan.steps)
    steps = (f"<h2>Workout</h2><table><tr><th>step</th><th>time</th><th>target</th></tr>"
             f"{steps}</table>") if steps else '<p class="muted">Rest day: no workout.</p>'
    habits = "".join(
        f"<li>{escape(t.name)}: {escape(t.text)}"
        + (f' <span class="muted">{escape(t.reason.split(": ", 1)[1])}</span>' if t.reason
           else f' <span class="muted">({escape(t.status)})</span>') + "</li>"
        for t in plan.todo if t.amount > 0)
    if skipped := [t.name for t in plan.todo if t.amount <= 0]:
        habits += f'<li class="muted">not today: {escape(", ".join(skipped))}</li>'
    if not plan.todo:  # a plan from before the to-do list
        habits = "".join(f"<li>{escape(name)}: {escape(todo)}</li>"
                         for name, todo in plan.habits.items())
    reasons = "".join(f"<li>{escape(r)}</li>" for r in plan.reasons)
    return (f'<div class="card" id="plan"><div class="muted">{plan.date:%A %d %B %Y}</div>'
            f'<div class="big" id="session">{escape(plan.label)}</div>'
            f'<div id="minutes">{minutes}</div>{steps}'
            f'<h2>Habits today</h2><ul id="habits">{habits}</ul>'
            f'<h2>Why</h2><ul id="reasons">{reasons}</ul></div>')


def _week(week: Sequence[Plan]) -> str:
    rows = "".join(f"<tr><td>{p.date:%a %d %b}</td><td>{escape(p.label)}</td>"
                   f"<td>{f'{p.minutes:.0f} min' if p.minutes else '-'}</td>"
                   f"<td>{p.load_tss:.0f}</td></tr>" for p in week)
    return (f'<div class="card" id="week"><h2>The week</h2><table><tr><th>day</th>'
            f'<th>session</th><th>time</th><th>TSS</th></tr>{rows}</table></div>')


def _links(athlete_id: str, date: dt.date, exports: Mapping[str, bool]) -> str:
    a, d = quote(athlete_id), date.isoformat()
    names = {"ics": ("week.ics", "the week (.ics calendar)"),
             "zwo": ("workout.zwo", "today's workout (Zwift .zwo)"),
             "fit": ("workout.fit", "today's workout (.fit)")}
    links = [f'<a href="/athletes/{a}/{file}?date={d}">{label}</a>'
             for key, (file, label) in names.items() if exports.get(key)]
    return (f'<p id="downloads">Download: {" &middot; ".join(links)}</p>' if links else "")


def _value(values: Mapping[str, Any], name: str) -> str:
    return escape(str(values.get(name, "")), quote=True)


def log_form(athlete_id: str, date: dt.date, csrf: str, habits: Mapping[str, str],
             values: Mapping[str, Any]) -> str:
    """The form to log a day (session, readings, habits); `values` refill it after an error."""
    chosen = values.get("session_type", "")
    options = "".join(f'<option value="{n}"{" selected" if n == chosen else ""}>'
                      f'{n.replace("_", " ")}</option>' for n in SESSION_NAMES)

    def number(name: str, label: str, step: str = "any") -> str:
        return (f'<label>{escape(label)} <input type="number" step="{step}" min="0" '
                f'name="{name}" value="{_value(values, name)}"></label>')

    def box(name: str, label: str) -> str:
        checked = " checked" if values.get(name) else ""
        return f'<label><input type="checkbox" name="{name}" value="1"{checked}> {label}</label>'

    habit_inputs = "".join(number(f"habit:{h}", f"{h} ({unit})") for h, unit in habits.items())
    return (f'<div class="card"><h2>Log a day</h2>'
            f'<form class="log" id="log-form" method="post" '
            f'action="/athletes/{quote(athlete_id)}/log">'
            f'<input type="hidden" name="csrf_token" value="{escape(csrf, quote=True)}">'
            f'<label>date <input type="date" name="date" '
            f'value="{_value(values, "date") or date.isoformat()}" required></label><br>'
            f'<label>session <select name="session_type"><option value="">none</option>'
            f'{options}</select></label>{number("minutes", "minutes")}'
            f'{number("rpe", "RPE (0-10)")}<br>'
            f'{number("hrv_ms", "HRV (ms)")}{number("rhr_bpm", "resting HR (bpm)")}'
            f'{number("sleep_h", "sleep (h)")}{number("sleep_eff", "sleep efficiency (0-1)")}'
            f'{number("recovery", "recovery (0-100)")}{number("benchmark_w", "benchmark (W)")}'
            f'{number("weight_kg", "weight (kg)")}'
            f'<br>{box("ill", "ill")}{box("injured", "injured")}<br>{habit_inputs}<br>'
            f'<button type="submit" id="log-submit">Log</button>'
            f'<p class="muted">A logged day is never changed: logging a date again with '
            f'other values is refused.</p></form></div>')


def today_page(athlete_id: str, date: dt.date, week: Sequence[Plan] | None, plan_error: str,
               pmc: str, csrf: str, habits: Mapping[str, str], exports: Mapping[str, bool],
               notice: str = "", error: str = "", values: Mapping[str, Any] | None = None
               ) -> str:
    body = f"<h1>{escape(athlete_id)}: today</h1>"
    if notice:
        body += f'<div class="notice" id="notice">{escape(notice)}</div>'
    if error:
        body += f'<div class="error" id="error">{escape(error)}</div>'
    if week:
        body += _plan_card(week[0]) + _links(athlete_id, date, exports) + _week(week)
    else:
        body += f'<div class="error" id="plan-error">No plan: {escape(plan_error)}</div>'
    body += (f'<div class="card"><img class="chart" id="pmc-chart" alt="{CHARTS["pmc"][0]}" '
             f'src="{pmc}"><p><a href="/athletes/{quote(athlete_id)}/history">'
             f'All history charts</a></p></div>')
    body += log_form(athlete_id, date, csrf, habits, values or {})
    return page(f"{athlete_id} today", body, athlete_id)


def history_page(athlete_id: str, charts: Mapping[str, str], days: int) -> str:
    imgs = "".join(f'<div class="card"><img class="chart" id="{name}-chart" '
                   f'alt="{escape(CHARTS[name][0])}" src="{uri}"></div>'
                   for name, uri in charts.items())
    return page(f"{athlete_id} history",
                f'<h1>{escape(athlete_id)}: history</h1><p class="muted">{days} days logged. '
                f'The same features the coach reads: PMC, HRV against its 60-day normal '
                f'range, resting HR, sleep, habit EMAs, benchmarks.</p>{imgs}', athlete_id)


def docs_page(openapi: Mapping[str, Any]) -> str:
    """The API reference from the OpenAPI schema, rendered here (Swagger UI would need a CDN)."""
    rows = []
    for path, operations in openapi.get("paths", {}).items():
        for method, op in operations.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in op.get("parameters", []))
            body = "JSON body" if "requestBody" in op else ""
            rows.append(f"<tr><td><b>{method.upper()}</b></td><td><code>{escape(path)}</code>"
                        f"</td><td>{escape(op.get('summary', ''))}<div class='muted'>"
                        f"{escape(', '.join(x for x in (params, body) if x))}</div></td></tr>")
    return page("API", f'<h1>{escape(openapi.get("info", {}).get("title", "API"))}</h1>'
                f'<div class="card"><p>The machine-readable schema: '
                f'<a href="/openapi.json">/openapi.json</a>.</p><table><tr><th>method</th>'
                f'<th>path</th><th>what</th></tr>{"".join(rows)}</table></div>')


__all__ = ["athletes_page", "docs_page", "error_page", "history_page", "log_form", "page",
           "today_page"]
