"""The web app: routes, error handlers and `serve`.

Pages (HTML, server-rendered):
  GET  /                                   the athletes
  GET  /athletes/{id}[?date=YYYY-MM-DD]    today: the plan card, the week, downloads, the PMC
                                           chart and the log form
  GET  /athletes/{id}/history              every history chart
  POST /athletes/{id}/log                  the log form (CSRF token + same origin)
  GET  /athletes/{id}/week.ics | workout.zwo | workout.fit [?date=]   (with coachrl.coach.exports)
  GET  /docs                               the API reference (offline), /openapi.json the schema
JSON API:
  GET  /api/athletes
  GET  /api/athletes/{id}/plan[?date=]     the stored plan (computed if needed)
  GET  /api/athletes/{id}/history[?start=&end=]   the charted series
  POST /api/athletes/{id}/log              one day (application/json); 201 new, 200 same, 409
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from coachrl.app import pages
from coachrl.app.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LOOPBACK_NAMES,
    MAX_BODY,
    TOKEN_ENV,
    Guard,
    csrf_for,
    csrf_ok,
    error_response,
    is_loopback,
    new_csrf_cookie,
    require_token,
)
from coachrl.app.service import (
    CACHE_SECONDS,
    CoachService,
    PlanView,
    ServiceError,
)
from coachrl.coach.store import PLAUSIBLE, LoggedDay, StoreError, open_store
from coachrl.sim.sessions import SESSION_NAMES

log = logging.getLogger("coachrl.app")

ATHLETE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
AthleteId = Annotated[str, Path(pattern=ATHLETE_ID, description="the athlete's id in the store")]
DateText = Annotated[str | None, Query(description="YYYY-MM-DD (default: today)")]
READINGS = ("hrv_ms", "rhr_bpm", "sleep_h", "sleep_eff", "recovery", "benchmark_w", "weight_kg")
EXPORTS = {"ics": ("calendar", "text/calendar"),
           "zwo": ("zwift_workout", "application/xml"),
           "fit": ("fit_workout", "application/vnd.ant.fit")}
CSRF_SLOT = "@@csrf@@"  # where a kept page gets each visitor's CSRF token
T = TypeVar("T")


def parse_date(text: str | None, name: str = "date") -> dt.date:
    """An ISO date (today when None); 400 with the expected form otherwise."""
    if text is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ServiceError(f"{name} {text[:40]!r}: expected an ISO date YYYY-MM-DD") from None


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(description=f"one of {', '.join(SESSION_NAMES)}")
    minutes: float
    rpe: float | None = None


class LogIn(BaseModel):
    """One logged day. Readings left out are missing; habits: name -> amount (its unit)."""

    model_config = ConfigDict(extra="forbid")
    date: dt.date
    hrv_ms: float | None = None
    rhr_bpm: float | None = None
    sleep_h: float | None = None
    sleep_eff: float | None = None
    recovery: float | None = None
    benchmark_w: float | None = None
    weight_kg: float | None = None
    ill: bool = False
    injured: bool = False
    sessions: list[SessionIn] = Field(default_factory=list, max_length=10)
    habits: dict[str, float] = Field(default_factory=dict, max_length=100)


def logged_day(date: dt.date, readings: Mapping[str, float | None],
               sessions: list[tuple[str, float, float | None]], habits: Mapping[str, float],
               ill: bool, injured: bool) -> LoggedDay:
    """The day to log, each value checked against the store's plausible ranges (400)."""
    for name, value in [*readings.items(), *(("minutes", s[1]) for s in sessions),
                        *(("rpe", s[2]) for s in sessions if s[2] is not None)]:
        if value is not None and value not in PLAUSIBLE[name]:
            raise ServiceError(f"{name} {value:g} is outside the plausible range "
                               f"{PLAUSIBLE[name]}")
    try:
        return LoggedDay(date, ill=ill, injured=injured, sessions=sessions, habits=habits,
                         **readings)
    except StoreError as error:
        raise ServiceError(str(error)) from None


def _form_number(form: Mapping[str, Any], name: str) -> float | None:
    text = str(form.get(name, "")).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ServiceError(f"{name.removeprefix('habit:')}: {text[:40]!r} is not a number"
                           ) from None


def day_from_form(form: Mapping[str, Any]) -> LoggedDay:
    date = parse_date(str(form.get("date", "")).strip() or None)
    kind = str(form.get("session_type", "")).strip()
    minutes, rpe = _form_number(form, "minutes"), _form_number(form, "rpe")
    if kind and kind not in SESSION_NAMES:
        raise ServiceError(f"unknown session type {kind!r}; known: {', '.join(SESSION_NAMES)}")
    if kind and minutes is None:
        raise ServiceError(f"{kind}: how many minutes?")
    if minutes is not None and not kind:
        raise ServiceError("minutes given without a session type")
    sessions = [(kind, minutes, rpe)] if kind and minutes is not None else []
    habits = {k.removeprefix("habit:"): v for k in form if k.startswith("habit:")
              if (v := _form_number(form, k)) is not None}
    return logged_day(date, {r: _form_number(form, r) for r in READINGS}, sessions, habits,
                      ill=bool(form.get("ill")), injured=bool(form.get("injured")))


def create_app(db_url: str | None = None, checkpoint: str | os.PathLike[str] | None = None,
               token: str | None = None, *, allowed_hosts: Collection[str] = LOOPBACK_NAMES,
               max_body: int = MAX_BODY, cache_seconds: float = CACHE_SECONDS) -> FastAPI:
    """The app over the store at `db_url` (default: the embedded SQLite) with the coach of
    `checkpoint` (default: $COACHRL_CHECKPOINT), loaded on the first plan. With `token`,
    every request must carry it; without, only loopback Host names are served."""
    service = CoachService(open_store(db_url), checkpoint, cache_seconds)
    secret = secrets.token_bytes(32)  # CSRF tokens: valid while this process serves

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="CoachRL daily coach", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None, description="Today's plan, the history and the log.")
    app.state.service = service
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts, max_body=max_body)
    _add_error_handlers(app)

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(fn, *args)

    async def plan_of(athlete_id: str, date: dt.date) -> PlanView:
        view = service.cached_plan(athlete_id, date)
        return view if view is not None else await call(service.plan, athlete_id, date)

    async def chart_of(athlete_id: str, name: str) -> str:
        view = service.cached_history(athlete_id)
        uri = view.charts.get(name) if view is not None else None
        return uri if uri is not None else await call(service.chart, athlete_id, name)

    def habit_units(athlete_id: str) -> dict[str, str]:
        goals = service.athlete(athlete_id).habit_goals
        if goals:
            return {name: unit for name, (unit, _) in goals.items()}
        return {h.name: h.unit for h in service.world_config().habits.items}

    def exports_available(workout: bool) -> dict[str, bool]:
        """Which downloads to link: the week always, today's workout when there is one."""
        module = service.exports
        return {key: module is not None and hasattr(module, fn) and (workout or key == "ics")
                for key, (fn, _) in EXPORTS.items()}

    def today_html(athlete_id: str, date: dt.date, notice: str, error: str,
                   values: Mapping[str, Any] | None) -> tuple[str, bool]:
        """Today's page, with CSRF_SLOT for the form token, and whether it may be kept (not
        without a plan)."""
        try:
            week, plan_error = service.plan(athlete_id, date).week, ""
        except ServiceError as e:
            if e.status == 404:
                raise
            week, plan_error = None, e.message
        html = pages.today_page(
            athlete_id, date, week, plan_error, service.chart(athlete_id, "pmc"), CSRF_SLOT,
            habit_units(athlete_id), exports_available(bool(week and week[0].steps)), notice,
            error, values)
        return html, not plan_error

    async def today(request: Request, athlete_id: str, date: dt.date, notice: str = "",
                    error: str = "", values: Mapping[str, Any] | None = None,
                    status: int = 200) -> HTMLResponse:
        key = (date, notice) if not (error or values) else None  # plain pages are kept
        html = service.cached_page(athlete_id, key) if key is not None else None
        if html is None:
            render = functools.partial(today_html, athlete_id, date, notice, error, values)
            html = await call(service.page, athlete_id, key, render)
        cookie = request.cookies.get(CSRF_COOKIE) or new_csrf_cookie()
        html = html.replace(CSRF_SLOT, csrf_for(secret, cookie), 1)
        response = HTMLResponse(html, status)
        if request.cookies.get(CSRF_COOKIE) != cookie:
            response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict")
        return response

    # -- pages ----------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, summary="The athletes", include_in_schema=False)
    async def athletes_page() -> HTMLResponse:
        return HTMLResponse(pages.athletes_page(await call(service.athletes)))

    @app.get("/athletes/{athlete_id}", response_class=HTMLResponse, include_in_schema=False)
    async def today_page(request: Request, athlete_id: AthleteId, date: DateText = None,
                         logged: str | None = None, same: bool = False) -> HTMLResponse:
        notice = ""
        if logged is not None:
            day = parse_date(logged, "logged")
            notice = (f"{day.isoformat()} was already logged with the same values: nothing "
                      f"changed." if same else f"Logged {day.isoformat()}.")
        return await today(request, athlete_id, parse_date(date), notice)

    @app.get("/athletes/{athlete_id}/history", response_class=HTMLResponse,
             include_in_schema=False)
    async def history_page(athlete_id: AthleteId) -> HTMLResponse:
        charts = {name: await chart_of(athlete_id, name) for name in pages.CHARTS}
        days = len((await call(service.history, athlete_id)).series.dates)
        return HTMLResponse(pages.history_page(athlete_id, charts, days))

    @app.post("/athletes/{athlete_id}/log", include_in_schema=False)
    async def log_form(request: Request, athlete_id: AthleteId) -> Response:
        form = await request.form()
        if not csrf_ok(secret, request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
            raise ServiceError("the form has expired or was not sent from this app's page: "
                               "reload the page and log again", 403)
        values = {k: v for k, v in form.items() if k != CSRF_FIELD}
        await call(service.athlete, athlete_id)
        try:
            day = day_from_form(form)
            new = await call(service.log, athlete_id, day, "web app")
        except ServiceError as e:
            try:
                date = parse_date(str(form.get("date", "")).strip() or None)
            except ServiceError:
                date = dt.date.today()
            return await today(request, athlete_id, date, error=f"Nothing was logged: "
                               f"{e.message}", values=values, status=e.status)
        target = f"/athletes/{athlete_id}?date={day.date}&logged={day.date}"
        return RedirectResponse(target + ("" if new else "&same=true"), 303)

    @app.get("/athletes/{athlete_id}/{name}", include_in_schema=False)
    async def download(athlete_id: AthleteId, name: str, date: DateText = None) -> Response:
        kind = {"week.ics": "ics", "workout.zwo": "zwo", "workout.fit": "fit"}.get(name)
        if kind is None:
            raise ServiceError(f"no page {name!r} here", 404)
        module = service.exports
        fn_name, media = EXPORTS[kind]
        if module is None or not hasattr(module, fn_name):
            raise ServiceError("downloads need coachrl.coach.exports, not in this install", 404)
        view = await plan_of(athlete_id, parse_date(date))
        fn = getattr(module, fn_name)
        arg = view.week if kind == "ics" else view.week[0]
        who = athlete_id if kind == "ics" else view.athlete
        try:
            content = await call(fn, arg, who)
        except getattr(module, "ExportError", ValueError) as error:  # e.g. a rest day
            raise ServiceError(str(error), 404) from None
        filename = f"{athlete_id}-{view.week[0].date}-{name}"
        return Response(content, media_type=media,
                        headers={"content-disposition": f'attachment; filename="{filename}"'})

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(pages.docs_page(app.openapi()))

    # -- the JSON API ---------------------------------------------------------------------------

    @app.get("/api/athletes", summary="The athletes' ids")
    async def api_athletes() -> dict[str, list[str]]:
        ids = service.cached_athletes()
        return {"athletes": ids if ids is not None else await call(service.athletes)}

    @app.get("/api/athletes/{athlete_id}/plan", summary="The plan of a date (default today)",
             response_class=JSONResponse)
    async def api_plan(athlete_id: AthleteId, date: DateText = None) -> Response:
        view = await plan_of(athlete_id, parse_date(date))
        return Response(view.json, media_type="application/json")

    @app.get("/api/athletes/{athlete_id}/history", summary="The charted series of the log",
             response_class=JSONResponse)
    async def api_history(athlete_id: AthleteId,
                          start: Annotated[str | None, Query()] = None,
                          end: Annotated[str | None, Query()] = None) -> Response:
        first = parse_date(start, "start") if start is not None else None
        last = parse_date(end, "end") if end is not None else None
        view = service.cached_history(athlete_id) or await call(service.history, athlete_id)
        body = view.json if first is None and last is None else view.to_json(first, last)
        return Response(body, media_type="application/json")

    @app.post("/api/athletes/{athlete_id}/log", summary="Log one day (never overwrites)",
              status_code=201, responses={200: {"description": "already logged, same values"},
                                          409: {"description": "logged with other values"}})
    async def api_log(request: Request, athlete_id: AthleteId, body: LogIn) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ServiceError("send the day as application/json", 415)
        day = logged_day(body.date, {r: getattr(body, r) for r in READINGS},
                         [(s.type, s.minutes, s.rpe) for s in body.sessions], body.habits,
                         body.ill, body.injured)
        new = await call(service.log, athlete_id, day, "web api")
        return JSONResponse({"athlete": athlete_id, "date": body.date.isoformat(),
                             "new": bool(new)}, 201 if new else 200)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as a clear message (JSON under /api, else a page); never a traceback."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        return error_response(request.scope, exc.status, exc.message)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        return error_response(request.scope, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("path", "query"))
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return error_response(request.scope, 422, "invalid request: " + "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no page {request.url.path!r} here"
        return error_response(request.scope, exc.status_code, message)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(request.scope, 500, "internal error: the server log has the "
                              "details")


def serve(host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
          db_url: str | None = None, checkpoint: str | os.PathLike[str] | None = None) -> None:
    """Runs the app with uvicorn until interrupted. A `host` other than the loopback needs a
    token (`token` or $COACHRL_TOKEN): `TokenRequired` (a clear message) otherwise."""
    import uvicorn

    token = token or os.environ.get(TOKEN_ENV) or None
    require_token(host, token)
    hosts = (*LOOPBACK_NAMES, host) if is_loopback(host) else LOOPBACK_NAMES
    app = create_app(db_url, checkpoint, token, allowed_hosts=hosts)
    gc.freeze()  # start-up's objects live as long as the process: full collections skip them
    where = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    print(f"CoachRL serving {where}" + (" (token required: open ?token=TOKEN once)"
                                          if token else ""), flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


__all__ = ["ATHLETE_ID", "LogIn", "create_app", "parse_date", "serve"]
