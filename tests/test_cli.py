"""Smoke tests of the `coachrl` command (coachrl.cli): every subcommand's --help, and
import, log and today on a temporary store; the daily path imports no TensorFlow, Ray or
Reverb."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coachrl.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
TINY_TRAIN = ["trainer.num_envs=8", "trainer.rollout_length=8", "trainer.total_env_steps=128",
              "trainer.updates_per_call=1", "trainer.eval_athletes=3", "trainer.eval_days=14",
              "ppo.hidden_sizes=[8]", "ppo.num_minibatches=2"]
HEAVY = ("tensorflow", "ray", "reverb")
DATE = "2026-03-01"


@pytest.fixture(scope="module")
def coach(tmp_path_factory):
    from coachrl.training.anakin import train
    from coachrl.training.config import load_train_config

    workdir = tmp_path_factory.mktemp("cli") / "coach"
    config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY_TRAIN)
    train(config, workdir, show_progress=False, evaluate_at_end=False)
    return workdir


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    from coachrl.cli.demo_log import write_demo_log

    url = f"sqlite:///{tmp_path_factory.mktemp('cli_db')}/coach.db"
    assert write_demo_log("demo", 20, url, dt.date.fromisoformat(DATE)) == 20
    return url


def run_cli(*args: str, env: dict | None = None, timeout: float = 120):
    return subprocess.run([sys.executable, "-m", "coachrl.cli", *args], cwd=ROOT,
                          env={**ENV, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"coachrl {command}" in out and "--" in out


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)


def test_import_then_log_a_day_never_overwriting(tmp_path, capsys):
    from coachrl.coach.store import open_store

    db = f"sqlite:///{tmp_path}/log.db"
    example = str(ROOT / "examples" / "athlete_log.csv")
    assert main(["import", "--athlete", "runner", "--csv", example, "--db", db]) == 2
    assert "unknown athlete 'runner'" in capsys.readouterr().err
    assert main(["import", "--athlete", "runner", "--csv", example, "--db", db,
                 "--new-athlete", "--threshold-power", "250"]) == 0
    assert "imported 14 new days" in capsys.readouterr().out
    assert main(["import", "--athlete", "runner", "--csv", example, "--db", db]) == 0
    assert "imported 0 new days" in capsys.readouterr().out
    missing = str(tmp_path / "nothing.fit")
    assert main(["import", "--athlete", "runner", "--fit", missing, "--db", db]) == 2
    assert "nothing.fit" in capsys.readouterr().err

    day = ["log", "--athlete", "runner", "--date", "2026-02-01", "--db", db]
    entry = [*day, "--session", "tempo", "--minutes", "50", "--rpe", "7", "--hrv", "62",
             "--rhr", "48", "--sleep", "7.5", "--ill"]
    assert main(entry) == 0
    assert "logged 2026-02-01" in capsys.readouterr().out
    assert main(entry) == 0  # the same values again: nothing changes
    assert "already logged" in capsys.readouterr().out
    assert main([*day, "--hrv", "70", "--habit", "mobility=10"]) == 2  # would overwrite
    err = capsys.readouterr().err
    assert "2026-02-01" in err and "hrv" in err and "nothing was written" in err
    with open_store(db) as store:
        (logged,) = store.days("runner", start=dt.date(2026, 2, 1), end=dt.date(2026, 2, 1))
    assert logged.sessions[0][:3] == ("tempo", 50.0, 7.0) and logged.hrv_ms == 62.0
    assert logged.ill and not logged.injured and "mobility" not in logged.habits
    for bad, flag in ((["--minutes", "30"], "--session"), (["--hrv", "900"], "--hrv"),
                      (["--session", "swim", "--minutes", "3"], "--session"),
                      (["--habit", "mobility"], "--habit"), (["--date", "01/02/2026"], "--date")):
        assert main(["log", "--athlete", "runner", "--db", db, *bad]) == 2, bad
        assert flag in capsys.readouterr().err, bad


def test_today_in_a_fresh_process_imports_no_tensorflow_ray_or_reverb(coach, demo_db, tmp_path):
    ics = tmp_path / "week.ics"
    code = ("import json, sys\nfrom coachrl.cli import main\n"
            f"rc = main(['today', '--checkpoint', {str(coach)!r}, '--athlete', 'demo', "
            f"'--db', {demo_db!r}, '--date', {DATE!r}, '--format', 'json', "
            f"'--ics', {str(ics)!r}])\n"
            f"print(json.dumps({{'rc': rc, 'heavy': [m for m in {HEAVY!r} "
            "if m in sys.modules]}))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env={**ENV, "COACHRL_JAX_CACHE": str(tmp_path / "jax-cache")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"rc": 0, "heavy": []}
    plan = json.loads(lines[-2])
    assert plan["date"] == DATE and len(plan["outlook"]) == 6 and plan["reasons"]
    assert ics.read_bytes().startswith(b"BEGIN:VCALENDAR")
    assert any((tmp_path / "jax-cache").iterdir())  # the compile cache was written
    assert len(list((tmp_path / "jax-cache" / "programs").glob("*.jaxexport"))) == 5


def test_today_table_default_athlete_and_errors(coach, demo_db, tmp_path):
    result = run_cli("today", "--checkpoint", str(coach), "--db", demo_db, "--date", DATE,
                     "--dry-run", env={"COACHRL_JAX_CACHE": "off"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{DATE}: ") and "next days:" in result.stdout
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for args, message in ((["--checkpoint", str(tmp_path / "none")], "--checkpoint"),
                          (["--checkpoint", str(coach), "--date", "tomorrow"], "--date"),
                          (["--checkpoint", str(coach), "--athlete", "nobody"], "nobody"),
                          (["--checkpoint", str(coach), "--ics", str(blocker / "week.ics")],
                           "--ics")):
        result = run_cli("today", "--db", demo_db, *args, env={"COACHRL_JAX_CACHE": "off"})
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_today_without_any_coach_says_where_it_looked(tmp_path, demo_db):
    result = run_cli("today", "--db", demo_db, env={
        "COACHRL_HOME": str(tmp_path), "COACHRL_CHECKPOINT": str(tmp_path / "no_coach")})
    assert result.returncode == 2 and "no coach found" in result.stderr
    assert "no_coach" in result.stderr


def test_importers_and_app_import_no_tensorflow_ray_or_reverb():
    modules = ["coachrl.coach.store", "coachrl.coach.csv_import", "coachrl.coach.apple_health",
               "coachrl.coach.oura", "coachrl.coach.daily", "coachrl.training.checkpoints",
               "coachrl.cli.today", "coachrl.cli.logs"]
    for optional in ("coachrl.coach.fit_import", "coachrl.coach.exports", "coachrl.app"):
        if (ROOT / (optional.replace(".", "/") + ".py")).exists() or \
                (ROOT / optional.replace(".", "/")).is_dir():
            modules.append(optional)
    code = (f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_serve_refuses_a_public_host_without_a_token(capsys, monkeypatch):
    monkeypatch.delenv("COACHRL_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "8765", "--checkpoint", "none"]) == 2
    assert "token" in capsys.readouterr().err


def test_train_refuses_an_occupied_workdir(coach, capsys):
    assert main(["train", "--workdir", str(coach), *[x for s in TINY_TRAIN
                                                     for x in ("--set", s)]]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.slow  # a tiny training and evaluation through the command
def test_train_then_evaluate(tmp_path):
    sets = [x for s in TINY_TRAIN for x in ("--set", s)]
    result = run_cli("train", "--workdir", str(tmp_path / "coach"), *sets, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "done: 128 athlete-days" in result.stdout
    result = run_cli("evaluate", "--checkpoint", str(tmp_path / "coach"), "--out",
                     str(tmp_path / "eval"), "--athletes", "3", "--days", "14", "--policies",
                     "fixed", timeout=240)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "eval" / "report.md").is_file()


@pytest.mark.slow  # the whole demo with tiny sizes (about 2 minutes on 2 cores)
def test_demo_runs_every_step(tmp_path):
    sets = [x for s in TINY_TRAIN for x in ("--set", s)]
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", str(out), "--minutes", "0.2", "--athletes", "3",
                     "--days", "14", "--log-days", "10", *sets, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("season.png", "summary.csv", "evaluation/report.md", "coach.db", "week.ics",
                 "workout.json"):
        assert (out / name).is_file(), name
    assert "== 5/5 today's plan" in result.stdout
    again = run_cli("demo", "--out", str(out), "--athletes", "3", "--days", "14",
                    "--log-days", "10", timeout=600)  # keeps the coach, rebuilds the store
    assert again.returncode == 0 and "(kept; --retrain" in again.stdout, again.stderr[-3000:]
