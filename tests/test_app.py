"""The web app (coachrl.app) through FastAPI's TestClient: pages, the JSON API, the log form
and the security model. A tiny coach is trained once per session (about 30 s)."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about a future httpx replacement
    from fastapi.testclient import TestClient

from coachrl.app import create_app, serve
from coachrl.app.security import TokenRequired, require_token
from coachrl.app.service import REFRESH_AFTER, CoachService
from coachrl.coach.store import LoggedDay, open_store

ROOT = Path(__file__).resolve().parents[1]
TINY_TRAIN = ["trainer.num_envs=8", "trainer.rollout_length=8", "trainer.total_env_steps=128",
              "trainer.updates_per_call=1", "trainer.eval_athletes=3", "trainer.eval_days=14",
              "ppo.hidden_sizes=[8]", "ppo.num_minibatches=2"]
DATE = dt.date(2026, 3, 1)  # the day planned; the log ends the day before
BASE = "http://127.0.0.1"


@pytest.fixture(scope="session")
def tiny_coach(tmp_path_factory) -> Path:
    """A tiny trained PPO coach, shared by this session's app tests."""
    path = tmp_path_factory.getbasetemp() / "tiny_coach"
    if not path.exists():
        from coachrl.training.anakin import train
        from coachrl.training.config import load_train_config

        config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY_TRAIN)
        train(config, path, show_progress=False, evaluate_at_end=False)
    return path


def log_of(days: int, end: dt.date = DATE) -> list[LoggedDay]:
    """`days` logged days up to the day before `end`: readings with a gap, sessions, habits
    and a weekly benchmark."""
    out = []
    for i in range(days):
        date = end - dt.timedelta(days=days - i)
        if i == days - 5:
            out.append(LoggedDay(date))  # a day with nothing worn
            continue
        out.append(LoggedDay(
            date, hrv_ms=60 + 8 * math.sin(i / 3), rhr_bpm=48 + i % 3, sleep_h=7 + (i % 4) / 4,
            sleep_eff=0.9, recovery=60 + i % 20,
            sessions=[("aerobic_base" if i % 7 else "hiit", 60.0, 5.0)] if i % 7 != 3 else [],
            habits={"sleep": 8.0, "mobility": 10.0 * (i % 2)},
            benchmark_w=250.0 + i if i % 7 == 6 else None))
    return out


def make_store(path: Path, days: int = 30) -> str:
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        store.add_athlete("runner", name="Runner", threshold_power_w=250,
                          habit_goals={"sleep": ("h in bed", 56.0), "mobility": ("min", 70.0),
                                       "breathing": ("min", 70.0)})
        store.log_days("runner", log_of(days), source="test")
    return url


@pytest.fixture
def store_url(tmp_path) -> str:
    return make_store(tmp_path / "coach.db")


@pytest.fixture
def client(store_url, tiny_coach) -> TestClient:
    with TestClient(create_app(store_url, tiny_coach), base_url=BASE) as c:
        yield c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_pages_render_the_plan_the_week_and_charts(client, store_url):
    assert ">runner</a>" in client.get("/").text
    page = client.get(f"/athletes/runner?date={DATE}")
    assert page.status_code == 200
    with open_store(store_url) as store:
        stored = store.plan("runner", DATE)  # computed once and cached in the store
        assert len(store.days("runner")) == 30  # logged data untouched
    assert stored["date"] == DATE.isoformat() and len(stored["outlook"]) == 6
    assert stored["log_fingerprint"]
    html = page.text
    assert f'id="session">{stored["label"]}<' in html
    for reason in stored["reasons"]:
        assert reason.replace("'", "&#x27;") in html
    for habit in stored["habits"]:
        assert habit in html
    assert html.count("<tr><td>") >= 7  # the week's rows
    assert 'id="pmc-chart"' in html and "data:image/svg+xml;base64," in html
    assert 'id="log-form"' in html and csrf_of(html)
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "https://" not in html and "http://" not in html  # nothing from elsewhere

    history = client.get("/athletes/runner/history")
    assert history.status_code == 200
    assert history.text.count('class="chart"') == 6
    for name in ("pmc", "hrv", "rhr", "sleep", "habits", "benchmark"):
        assert f'id="{name}-chart"' in history.text
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/athletes/{athlete_id}/plan" in docs.text
    assert client.get("/openapi.json").json()["info"]["title"] == "CoachRL daily coach"


def test_api_plan_is_the_stored_plan_and_recomputed_when_the_log_changes(client, store_url):
    plan = client.get(f"/api/athletes/runner/plan?date={DATE}").json()
    for key in ("date", "session", "minutes", "steps", "habits", "reasons", "outlook"):
        assert key in plan
    assert client.get(f"/api/athletes/runner/plan?date={DATE}").json() == plan
    with open_store(store_url) as store:
        assert store.plan("runner", DATE) == plan
    morning = {"date": DATE.isoformat(), "hrv_ms": 30.0, "rhr_bpm": 60.0, "sleep_h": 5.0}
    assert client.post("/api/athletes/runner/log", json=morning).status_code == 201
    again = client.get(f"/api/athletes/runner/plan?date={DATE}").json()
    assert again["log_fingerprint"] != plan["log_fingerprint"]
    assert any("HRV" in r for r in again["reasons"])
    with open_store(store_url) as store:
        assert store.plan("runner", DATE) == again


def test_api_history_is_the_shared_feature_fold(client, store_url, tiny_coach):
    from coachrl.coach.daily import initial_ctl
    from coachrl.coach.features import history_from_log
    from coachrl.sim.features import readiness
    from coachrl.training.checkpoints import load_coach

    series = client.get("/api/athletes/runner/history").json()
    assert series["athlete"] == "runner" and len(series["dates"]) == 30
    assert series["dates"][0] == (DATE - dt.timedelta(days=30)).isoformat()
    for key in ("ctl", "atl", "tsb", "hrv_ms", "hrv_low", "hrv_high", "rhr_bpm", "rhr_usual",
                "sleep_h", "benchmark_w"):
        assert len(series[key]) == 30, key
    assert set(series["habit_ema"]) == {"sleep", "mobility", "breathing"}
    assert series["hrv_ms"][-5] is None  # the day with nothing worn
    assert series["hrv_low"][0] is None and series["hrv_low"][-1] < series["hrv_high"][-1]
    assert sum(b is not None for b in series["benchmark_w"]) == 4

    config = load_coach(tiny_coach).config.world  # the same numbers as the shared fold
    with open_store(store_url) as store:
        days = store.days("runner")
    for t in (10, 29):
        h = history_from_log(days[:t + 1], config, initial_ctl(days, config))
        assert series["ctl"][t] == pytest.approx(float(h.ctl), abs=1e-3)
        assert series["atl"][t] == pytest.approx(float(h.atl), abs=1e-3)
        assert series["habit_ema"]["sleep"][t] == pytest.approx(float(h.habit_ema[0]), abs=1e-3)
        before = history_from_log(days[:t], config, initial_ctl(days, config))
        assert series["tsb"][t] == pytest.approx(float(readiness(before, config).tsb), abs=1e-3)
    r = readiness(history_from_log(days[:-1], config, initial_ctl(days, config)), config)
    assert series["hrv_low"][-1] == pytest.approx(float(np.exp(r.hrv_mean - r.hrv_sd)), rel=1e-3)

    window = client.get("/api/athletes/runner/history?start=2026-02-20&end=2026-02-22").json()
    assert window["dates"] == ["2026-02-20", "2026-02-21", "2026-02-22"]


def test_api_log_never_overwrites(client, store_url):
    day = {"date": DATE.isoformat(), "hrv_ms": 58.0, "sleep_h": 7.5,
           "sessions": [{"type": "tempo", "minutes": 45, "rpe": 7}], "habits": {"sleep": 8}}
    first = client.post("/api/athletes/runner/log", json=day)
    assert first.status_code == 201 and first.json()["new"] is True
    same = client.post("/api/athletes/runner/log", json=day)
    assert same.status_code == 200 and same.json()["new"] is False
    conflict = client.post("/api/athletes/runner/log", json={**day, "hrv_ms": 70.0})
    assert conflict.status_code == 409
    assert "hrv_ms already logged as 58.0" in conflict.json()["error"]
    with open_store(store_url) as store:
        logged = store.days("runner", start=DATE)
    assert len(logged) == 1 and logged[0].hrv_ms == 58.0
    assert logged[0].sessions == (("tempo", 45.0, 7.0),)
    absurd = client.post("/api/athletes/runner/log",
                         json={"date": "2026-03-02", "rhr_bpm": 300})
    assert absurd.status_code == 400 and "rhr_bpm 300" in absurd.json()["error"]
    unknown = client.post("/api/athletes/runner/log", json={
        "date": "2026-03-02", "sessions": [{"type": "yoga", "minutes": 30}]})
    assert unknown.status_code == 400 and "unknown session type 'yoga'" in unknown.text
    assert client.post("/api/athletes/runner/log", json={"date": "2026-03-02",
                                                         "mood": 3}).status_code == 422
    with open_store(store_url) as store:
        assert len(store.days("runner")) == 31


def test_log_form_logs_and_a_conflict_writes_nothing(client, store_url):
    page = client.get(f"/athletes/runner?date={DATE}")
    form = {"csrf_token": csrf_of(page.text), "date": DATE.isoformat(),
            "session_type": "aerobic_base", "minutes": "50", "rpe": "", "hrv_ms": "61",
            "sleep_h": "7.25", "habit:sleep": "8", "habit:mobility": ""}
    done = client.post("/athletes/runner/log", data=form, follow_redirects=False)
    assert done.status_code == 303 and f"logged={DATE}" in done.headers["location"]
    assert f"Logged {DATE}." in client.get(done.headers["location"]).text
    with open_store(store_url) as store:
        day = store.days("runner", start=DATE)[0]
    assert day.hrv_ms == 61.0 and day.sleep_h == 7.25 and day.habits == {"sleep": 8.0}
    assert day.sessions == (("aerobic_base", 50.0, None),)

    conflict = client.post("/athletes/runner/log", data={**form, "hrv_ms": "75"})
    assert conflict.status_code == 409
    assert "Nothing was logged" in conflict.text and "hrv_ms already logged" in conflict.text
    assert 'value="75"' in conflict.text  # the form keeps what was typed
    bad = client.post("/athletes/runner/log", data={**form, "date": "2026-03-05",
                                                    "hrv_ms": "lots"})
    assert bad.status_code == 400 and "hrv_ms: &#x27;lots&#x27; is not a number" in bad.text
    with open_store(store_url) as store:
        assert store.days("runner", start=DATE) == [day]


def test_form_posts_need_the_csrf_token_and_this_origin(client, store_url):
    page = client.get(f"/athletes/runner?date={DATE}")
    form = {"csrf_token": csrf_of(page.text), "date": DATE.isoformat(), "hrv_ms": "61"}
    no_token = client.post("/athletes/runner/log", data={**form, "csrf_token": "forged"})
    assert no_token.status_code == 403 and "reload the page" in no_token.text
    other_origin = client.post("/athletes/runner/log", data=form,
                               headers={"origin": "http://evil.example"})
    assert other_origin.status_code == 403 and "cross-site" in other_origin.text
    other_referer = client.post("/athletes/runner/log", data=form,
                                headers={"referer": "http://evil.example/page"})
    assert other_referer.status_code == 403
    client.cookies.clear()  # the token belongs to the cookie it was made for
    assert client.post("/athletes/runner/log", data=form).status_code == 403
    api = client.post("/api/athletes/runner/log", json={"date": DATE.isoformat()},
                      headers={"origin": "null"})
    assert api.status_code == 403
    with open_store(store_url) as store:
        assert store.days("runner", start=DATE) == []
    good = client.get(f"/athletes/runner?date={DATE}")
    ok = client.post("/athletes/runner/log", follow_redirects=False, headers={"origin": BASE},
                     data={**form, "csrf_token": csrf_of(good.text)})
    assert ok.status_code == 303


def test_token_is_required_on_every_request(store_url, tiny_coach):
    app = create_app(store_url, tiny_coach, token="s3cret-token")
    with TestClient(app, base_url="http://192.168.1.20:8000") as c:  # any Host with a token
        for path in ("/", "/api/athletes", "/docs", "/openapi.json", "/athletes/runner"):
            refused = c.get(path)
            assert refused.status_code == 401, path
            assert "token" in refused.text and "Traceback" not in refused.text
        assert c.get("/api/athletes").json()["error"].startswith("this app needs its token")
        assert c.get("/api/athletes", headers={"authorization": "Bearer nope"}
                     ).status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        ok = c.get("/api/athletes", headers={"authorization": "Bearer s3cret-token"})
        assert ok.json() == {"athletes": ["runner"]}
        visit = c.get("/?token=s3cret-token", follow_redirects=False)
        assert visit.status_code == 303 and visit.headers["location"] == "/"
        assert "s3cret-token" not in visit.headers["set-cookie"]  # a digest, not the token
        assert "httponly" in visit.headers["set-cookie"].lower()
        c.cookies.set("coachrl_token", visit.cookies["coachrl_token"])
        assert c.get("/").status_code == 200  # the cookie carries it from now on


def test_serve_needs_a_token_off_the_loopback(monkeypatch):
    monkeypatch.delenv("COACHRL_TOKEN", raising=False)
    with pytest.raises(TokenRequired, match="refusing to serve on 0.0.0.0"):
        serve(host="0.0.0.0", port=0)
    with pytest.raises(TokenRequired, match="COACHRL_TOKEN"):
        require_token("192.168.1.20", None)
    require_token("127.0.0.1", None)
    require_token("::1", None)
    require_token("0.0.0.0", "a-token")


def test_only_loopback_host_names_without_a_token(client):
    rebinding = client.get("/api/athletes", headers={"host": "evil.example:8000"})
    assert rebinding.status_code == 400 and "not served here" in rebinding.text
    assert client.get("/api/athletes", headers={"host": "localhost:8000"}).status_code == 200


def test_bad_athlete_ids_and_dates_are_clear_errors(client):
    bad_id = client.get("/api/athletes/bad!id/plan")
    assert bad_id.status_code == 422 and "athlete_id" in bad_id.json()["error"]
    assert client.get("/athletes/-x").status_code == 422
    bad_date = client.get("/api/athletes/runner/plan?date=2026-02-30")
    assert bad_date.status_code == 400
    assert bad_date.json()["error"] == "date '2026-02-30': expected an ISO date YYYY-MM-DD"
    page = client.get("/athletes/runner?date=tomorrow")
    assert page.status_code == 400 and "expected an ISO date" in page.text
    assert "<html" in page.text
    assert client.get("/api/athletes/runner/history?start=x").status_code == 400
    unknown = client.get("/api/athletes/nobody/plan")
    assert unknown.status_code == 404 and "unknown athlete 'nobody'" in unknown.json()["error"]
    assert client.get("/athletes/nobody").status_code == 404
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "no page" in missing.text


def test_large_bodies_are_refused(client, store_url):
    big = client.post("/api/athletes/runner/log", content=b"{" + b" " * 70_000 + b"}",
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and "64 kB" in big.json()["error"]
    form = client.post("/athletes/runner/log", data={"note": "x" * 70_000})
    assert form.status_code == 413
    with open_store(store_url) as store:
        assert len(store.days("runner")) == 30


def test_internal_errors_are_a_message_not_a_traceback(store_url, tiny_coach, monkeypatch):
    app = create_app(store_url, tiny_coach)

    def broken(*_):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.state.service, "history", broken)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as c:
        response = c.get("/api/athletes/runner/history")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error: the server log has the details"}


def test_without_a_coach_the_page_says_why(store_url, monkeypatch):
    monkeypatch.delenv("COACHRL_CHECKPOINT", raising=False)
    with TestClient(create_app(store_url), base_url=BASE) as c:
        page = c.get(f"/athletes/runner?date={DATE}")
        assert page.status_code == 200 and "No plan: no coach to plan with" in page.text
        assert 'id="pmc-chart"' in page.text and 'id="log-form"' in page.text
        api = c.get(f"/api/athletes/runner/plan?date={DATE}")
        assert api.status_code == 503 and "--checkpoint" in api.json()["error"]


def test_downloads_with_the_exports_module(client):
    service = client.app.state.service
    service._exports = None  # this install without coachrl.coach.exports: no links
    assert 'id="downloads"' not in client.get(f"/athletes/runner?date={DATE}").text
    assert client.get(f"/athletes/runner/week.ics?date={DATE}").status_code == 404
    service._exports = types.SimpleNamespace(
        calendar=lambda week, athlete_id: f"ICS {athlete_id} {len(week)}".encode(),
        zwift_workout=lambda plan, athlete: f"<workout_file>{plan.date}</workout_file>",
        fit_workout=lambda plan, athlete: b".FIT" + athlete.id.encode())
    service.forget("runner")  # the page kept from before
    html = client.get(f"/athletes/runner?date={DATE}").text
    assert 'id="downloads"' in html and "workout.zwo" in html and "week.ics" in html
    ics = client.get(f"/athletes/runner/week.ics?date={DATE}")
    assert ics.content == b"ICS runner 7" and ics.headers["content-type"].startswith(
        "text/calendar")
    assert "attachment" in ics.headers["content-disposition"]
    zwo = client.get(f"/athletes/runner/workout.zwo?date={DATE}")
    assert zwo.text == f"<workout_file>{DATE}</workout_file>"
    assert client.get(f"/athletes/runner/workout.fit?date={DATE}").content == b".FITrunner"


def test_writes_by_another_process_show_within_cache_seconds(store_url, tiny_coach):
    with TestClient(create_app(store_url, tiny_coach, cache_seconds=0.5), base_url=BASE) as c:
        plan = c.get(f"/api/athletes/runner/plan?date={DATE}").json()
        assert len(c.get("/api/athletes/runner/history").json()["dates"]) == 30
        with open_store(store_url) as other:  # e.g. `coachrl log` in another terminal
            other.log_days("runner", [LoggedDay(DATE, hrv_ms=30.0, rhr_bpm=60.0)], source="cli")
        time.sleep(0.5)
        assert len(c.get("/api/athletes/runner/history").json()["dates"]) == 31
        again = c.get(f"/api/athletes/runner/plan?date={DATE}").json()
        assert again["log_fingerprint"] != plan["log_fingerprint"]


def test_a_snapshot_in_use_is_read_again_ahead(store_url, tiny_coach):
    service = CoachService(open_store(store_url), tiny_coach, cache_seconds=1.0)
    try:
        service.history("runner")  # the fold's compilation, out of the timing
        service.forget("runner")
        view = service.history("runner")  # the log read at most now
        time.sleep(REFRESH_AFTER * 1.0 + 0.05)
        assert service.cached_history("runner") is view  # from memory; a read ahead begins
        time.sleep(0.5)  # past cache_seconds since the first read
        assert service.cached_history("runner") is view  # read again: the log is unchanged
        with open_store(store_url) as other:
            other.log_days("runner", [LoggedDay(DATE, hrv_ms=55.0)], source="cli")
        time.sleep(1.0)
        assert len(service.history("runner").series.dates) == 31
    finally:
        service.close()


def test_a_read_overtaken_by_a_write_of_the_app_is_not_kept(store_url, tiny_coach, monkeypatch):
    service = CoachService(open_store(store_url), tiny_coach)
    days = service.store.days

    def days_then_a_write(athlete_id, *args, **kwargs):
        read = days(athlete_id, *args, **kwargs)
        service.forget(athlete_id)  # as `log` does once its write is in
        return read

    monkeypatch.setattr(service.store, "days", days_then_a_write)
    try:
        assert len(service.history("runner").series.dates) == 30  # answers its caller
        assert service.cached_history("runner") is None  # but is not served again
    finally:
        service.close()
