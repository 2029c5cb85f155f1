"""Smoke tests of the entry points in scripts/ (subprocess runs with tiny sizes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from coachrl.agents.baselines import NAMES
from coachrl.config import default_world_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_script(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=timeout)


def test_bench_env_prints_json_last():
    result = run_script("bench_env.py", "--batch", "64", "--days", "10", "--dm_env_steps", "50",
                        "--dm_env_warmup", "5")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("batched_athlete_days_per_s", "batched_athlete_days_per_s_no_reset",
                "single_device_athlete_days_per_s", "dm_env_steps_per_s", "peak_rss_mb",
                "compile_s", "devices"):
        assert isinstance(report[key], (int, float)) and report[key] > 0, (key, report[key])
    assert report["batch"] >= 64 and report["batch"] % report["devices"] == 0
    assert report["days"] == 10
    assert report["jax_version"]
    assert report["machine"]["cpu_count"] >= 1
    assert "best of 3" in report["timing"]


def test_demo_writes_plot_and_summary(tmp_path):
    out = tmp_path / "demo"
    result = run_script("demo.py", "--out", str(out), "--days", "20")
    assert result.returncode == 0, result.stderr
    assert (out / "season.png").stat().st_size > 10_000
    summary = pd.read_csv(out / "summary.csv")
    names = default_world_config().population.archetype_names
    assert len(names) == 4
    assert summary["archetype"].tolist() == list(names)
    assert (summary["start_W"] > 0).all() and (summary["end_W"] > 0).all()
    assert "season.png" in result.stdout


def test_demo_bad_config_value_names_the_key(tmp_path):
    result = run_script("demo.py", "--out", str(tmp_path), "--days", "20",
                        "--set", "episode.min_days=abc")
    assert result.returncode == 2
    assert "episode.min_days" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_unwritable_out_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run_script("demo.py", "--out", str(blocker / "demo"))
    assert result.returncode == 2
    assert "--out" in result.stderr and "Traceback" not in result.stderr


def test_demo_reads_a_run_file_with_world_overrides(tmp_path):
    result = run_script("demo.py", "--out", str(tmp_path), "--config", "configs/demo.yaml",
                        "--set", "episode.min_days=abc")
    assert result.returncode == 2
    assert "configs/demo.yaml" in result.stderr and "episode.min_days" in result.stderr


def test_evaluate_writes_metrics_summary_report_and_plots(tmp_path):
    result = run_script("evaluate.py", "--out", str(tmp_path), "--athletes", "6", "--days", "14",
                        "--policies", "fixed,random")
    assert result.returncode == 0, result.stderr
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert len(metrics) == 12 and set(metrics.policy) == {"fixed", "random"}
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert {"policy", "metric", "mean", "ci_lo", "ci_hi", "p_value"} <= set(summary.columns)
    report = (tmp_path / "report.md").read_text()
    assert "Paired tests against the best baseline" in report
    for plot in ("pmc.png", "metrics.png", "actions.png", "heatmap.png"):
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG" and plot in report
    assert "performance gain" in result.stdout


def test_evaluate_bad_input_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cases = [
        (["--policies", "fixed,bogus"], "unknown policy 'bogus'"),
        (["--athletes", "0"], "--athletes: 0"),
        (["--out", str(blocker / "eval")], "cannot write there"),
        (["--days", "3"], "evaluation season of 3 days"),
    ]
    for args, message in cases:
        argv = ["--out", str(tmp_path / "eval"), *args] if args[0] != "--out" else args
        result = run_script("evaluate.py", *argv)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_bench_evaluation_prints_json_last():
    result = run_script("bench_evaluation.py", "--athletes", "4", "--days", "10")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["policies"] == len(NAMES) and report["athletes"] == 4 and report["days"] == 10
    for key in ("rollout_s", "total_s", "athlete_days_per_s", "peak_rss_mb"):
        assert report[key] > 0, key


TINY_TRAIN = ["--set", "trainer.num_envs=8", "--set", "trainer.rollout_length=8",
              "--set", "trainer.total_env_steps=128", "--set", "trainer.updates_per_call=1",
              "--set", "trainer.eval_athletes=3", "--set", "trainer.eval_days=14",
              "--set", "ppo.hidden_sizes=[8]", "--set", "ppo.num_minibatches=2"]


def run_launch(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "launch" / "train_local.py"), *args],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


def test_train_local_writes_a_run_and_refuses_to_overwrite_it(tmp_path):
    workdir = tmp_path / "coach"
    result = run_launch("--workdir", str(workdir), *TINY_TRAIN)
    assert result.returncode == 0, result.stderr
    assert (workdir / "config.yaml").is_file() and (workdir / "final_eval.json").is_file()
    assert "done: 128 athlete-days" in result.stdout
    assert list((workdir / "checkpoints").iterdir())
    again = run_launch("--workdir", str(workdir), *TINY_TRAIN)  # would overwrite: refused
    assert again.returncode == 2 and "--resume" in again.stderr


def test_evaluate_a_checkpoint_beside_the_baselines(tmp_path):
    from coachrl.training.anakin import train
    from coachrl.training.config import load_train_config

    config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY_TRAIN[1::2])
    train(config, tmp_path / "coach", show_progress=False, evaluate_at_end=False)
    out = tmp_path / "eval"
    evaluation = run_script("evaluate.py", "--checkpoint", str(tmp_path / "coach"), "--out",
                            str(out), "--athletes", "4", "--days", "14", "--policies", "fixed")
    assert evaluation.returncode == 0, evaluation.stderr
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics.policy) == {"fixed", "ppo"} and (metrics.violations == 0).all()
    assert "ppo" in (out / "report.md").read_text()


def test_train_local_and_evaluate_bad_input(tmp_path):
    result = run_launch("--workdir", str(tmp_path), "--set", "ppo.learning_rate=-1")
    assert result.returncode == 2 and "ppo.learning_rate" in result.stderr
    result = run_script("evaluate.py", "--checkpoint", str(tmp_path / "none"),
                        "--out", str(tmp_path / "eval"))
    assert result.returncode == 2 and "--checkpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_bench_train_prints_json_last():
    result = run_script("bench_train.py", "--calls", "1", *TINY_TRAIN)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["env_steps_per_s"] > 0 and report["num_envs"] == 8


def test_bench_bsuite_prints_a_score():
    result = run_script("bench_bsuite.py", "--bsuite_id", "catch/0", "--episodes", "20",
                        "--rollout_length", "16")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert 0.0 <= report["score"] <= 1.0 and report["env_steps_per_s"] > 0
    assert report["episodes"] == 20 and report["steps"] == 180  # catch: 9 steps an episode


SE_TINY = ["trainer.num_envs=4", "trainer.rollout_length=4", "trainer.updates_per_call=1",
           "trainer.eval_days=14"]
SE_MPO = [x for item in [*SE_TINY, "mpo.hidden_sizes=[8]", "mpo.critic_hidden_sizes=[8]",
                         "mpo.n_step=2", "mpo.batch_size=8", "mpo.min_replay_size=8",
                         "mpo.replay_capacity=64", "mpo.num_samples=2"]
          for x in ("--set", item)]


def test_bench_sample_efficiency_against_a_given_target(tmp_path):
    result = run_script("bench_sample_efficiency.py", "--target", "-100", "1000",
                        "--mpo_eval_every", "16", "--eval_athletes", "2",
                        "--workdir", str(tmp_path / "se"), *SE_MPO)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["target_gain_pct"] == -100 and report["ppo_env_steps_to_target"] == 1000
    assert report["mpo_max_steps"] == 200 and report["meets_target"]  # any gain beats -100 %
    assert report["mpo_env_steps_to_target"] == report["mpo_curve"][0][0]


@pytest.mark.slow
def test_bench_sample_efficiency_prints_json_last(tmp_path):
    ppo = [x for item in [*SE_TINY, "ppo.hidden_sizes=[8]", "ppo.num_minibatches=2"]
           for x in ("--ppo_set", item)]
    result = run_script("bench_sample_efficiency.py", "--ppo_steps", "32", "--mpo_eval_every",
                        "16", "--mpo_max_steps", "48", "--eval_athletes", "2",
                        "--workdir", str(tmp_path / "se"), *ppo, *SE_MPO, timeout=240)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("target_gain_pct", "ppo_env_steps_to_target", "mpo_env_steps_to_target"):
        assert key in report
    assert report["ppo_env_steps_to_target"] <= 32 and report["ppo_curve"]
    assert report["mpo_curve"] and report["mpo_max_steps"] == 48


def load_script(name: str):
    """A script in scripts/ as a module (to call its main() in this process)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"),
                                                  ROOT / "scripts" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_log_then_daily_inference(tmp_path, capsys):
    from coachrl.training.anakin import train
    from coachrl.training.config import load_train_config

    config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY_TRAIN[1::2])
    train(config, tmp_path / "coach", show_progress=False, evaluate_at_end=False)
    db = f"sqlite:///{tmp_path}/coach.db"
    made = run_script("make_demo_log.py", "--db", db, "--days", "20", "--end", "2026-03-01")
    assert made.returncode == 0, made.stderr
    assert "logged 20 new days" in made.stdout
    ics, workout = tmp_path / "week.ics", tmp_path / "workout.json"
    args = ["--checkpoint", str(tmp_path / "coach"), "--athlete", "demo", "--db", db,
            "--date", "2026-03-01"]
    result = run_script("daily_inference.py", *args, "--format", "json", "--ics", str(ics),
                        "--workout-file", str(workout))
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("date", "session", "minutes", "steps", "habits", "reasons", "outlook"):
        assert key in plan
    assert plan["date"] == "2026-03-01" and len(plan["outlook"]) == 6
    text = ics.read_text()
    assert text.startswith("BEGIN:VCALENDAR") and text.count("BEGIN:VEVENT") == 7
    assert json.loads(workout.read_text())["date"] == "2026-03-01"
    daily = load_script("daily_inference.py")  # in-process from here on: faster
    assert daily.main(args) == 0  # the same date again: the plan is replaced

    from coachrl.coach.store import open_store
    with open_store(db) as store:
        assert len(store.days("demo")) == 20  # logged data untouched
        assert store.plan("demo", __import__("datetime").date(2026, 3, 1))["date"] == \
            "2026-03-01"
    assert daily.main(["--checkpoint", str(tmp_path / "coach"), "--athlete", "nobody",
                       "--db", db]) == 2
    assert "unknown athlete 'nobody'" in capsys.readouterr().err
    assert daily.main(["--checkpoint", str(tmp_path / "none"), "--athlete", "demo",
                       "--db", db]) == 2
    assert "--checkpoint" in capsys.readouterr().err

    # Absurd readings that reached the store by another route (no importer's checks):
    # ignored, named in the reasons, and today's plan is a cautious one.
    from coachrl.coach.plan import CAUTIOUS_REASON
    from coachrl.coach.store import LoggedDay
    from coachrl.sim.sessions import SESSION_NAMES, SESSION_TYPES
    with open_store(db) as store:
        store.log_days("demo", [LoggedDay(__import__("datetime").date(2026, 3, 2), hrv_ms=500.0,
                                          rhr_bpm=300.0)], source="hand edit")
    day2 = ["--checkpoint", str(tmp_path / "coach"), "--athlete", "demo", "--db", db,
            "--date", "2026-03-02", "--format", "json"]
    unwritable = tmp_path / "file"
    unwritable.write_text("")
    assert daily.main([*day2, "--ics", str(unwritable / "week.ics")]) == 2
    assert "--ics" in capsys.readouterr().err
    with open_store(db) as store:  # the refused run wrote nothing
        assert store.plan("demo", __import__("datetime").date(2026, 3, 2)) is None
    assert daily.main(day2) == 0
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "2026-03-02: HRV 500 ms is outside the plausible range (0, 300]: ignored" in \
        plan["reasons"]
    assert any("resting HR 300 bpm" in r for r in plan["reasons"])
    assert CAUTIOUS_REASON in plan["reasons"]
    assert not SESSION_TYPES[SESSION_NAMES.index(plan["session"])].hard
    # log_day.py: habits in their units and the weight, once; then today's to-do list
    log_day = load_script("log_day.py")
    entry = ["--athlete", "demo", "--db", db, "--date", "2026-03-02", "mobility=10",
             "--weight", "70.5"]
    assert log_day.main(entry) == 0 and "mobility 10 min" in capsys.readouterr().out
    assert log_day.main(entry) == 0 and "nothing changed" in capsys.readouterr().out
    today = [*args[:-1], "2026-03-03", "--format", "json"]
    assert daily.main(today) == 0
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [t["name"] for t in plan["todo"]] == ["sleep", "mobility", "breathing"]
    assert plan["weight"]["latest_kg"] == 70.5 and 0 < plan["habit_alignment"] <= 1
    # an athlete given another habit file: this coach refuses, naming what differs
    from coachrl.config import load_habit_file
    with open_store(db) as store:
        store.set_habits("demo", load_habit_file(ROOT / "configs" / "habits" /
                                                 "coachrl23.yaml"))
    assert daily.main(today) == 2
    assert "habits only in the athlete's file: meditation, workout" in capsys.readouterr().err


@pytest.mark.slow  # about 40 s: a tiny training, then three processes
def test_bench_inference_prints_json_last(tmp_path):
    from coachrl.training.anakin import train
    from coachrl.training.config import load_train_config

    config = load_train_config(ROOT / "configs" / "ppo.yaml", TINY_TRAIN[1::2])
    train(config, tmp_path / "coach", show_progress=False, evaluate_at_end=False)
    result = run_script("bench_inference.py", "--checkpoint", str(tmp_path / "coach"),
                        "--plans", "5")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["cold_cli_s"] > 0 and report["warm_plan_ms_p99"] >= report["warm_plan_ms_p50"]
    assert report["plans"] == 5


def test_bench_inference_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert load_script("bench_inference.py").main(["--checkpoint", str(tmp_path)]) == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_import_log_cli(tmp_path, capsys):
    importer = load_script("import_log.py")
    db = f"sqlite:///{tmp_path}/log.db"
    example = str(ROOT / "examples" / "athlete_log.csv")
    assert importer.main(["--athlete", "runner", "--csv", example, "--db", db]) == 2
    assert "unknown athlete 'runner'" in capsys.readouterr().err
    assert importer.main(["--athlete", "runner", "--csv", example, "--db", db,
                          "--new-athlete", "--threshold-power", "250"]) == 0
    assert "imported 14 new days" in capsys.readouterr().out
    assert importer.main(["--athlete", "runner", "--csv", example, "--db", db]) == 0
    assert "imported 0 new days" in capsys.readouterr().out  # re-import: nothing changes
    bad = tmp_path / "bad.csv"
    bad.write_text("date,hrv_ms\n2026-01-01,500\n")
    assert importer.main(["--athlete", "runner", "--csv", str(bad), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "line 2" in err and "hrv_ms" in err
    for athlete, flag, name, days in (("watch", "--apple-health", "apple_health_export.xml", 3),
                                      ("ring", "--oura", "oura_export.json", 5)):
        fixture = str(ROOT / "tests" / "fixtures" / name)
        assert importer.main(["--athlete", athlete, flag, fixture, "--db", db,
                              "--new-athlete"]) == 0
        assert f"imported {days} new days" in capsys.readouterr().out


def test_bench_habits_prints_json_last(tmp_path):
    result = run_script("bench_habits.py", "--minutes", "0.02", "--group_size", "23",
                        "--athletes", "4", "--days", "14", "--host_devices", "1",
                        "--out", str(tmp_path), *TINY_TRAIN, timeout=170)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["habits"] == 23 and len(report["split_chunks"]) == 1
    for name in ("single", "split", "greedy", "random"):
        assert 0.0 <= report[name]["alignment"] <= 1.0
        assert report[name]["over_budget_min"] >= 0.0
    assert report["single"]["athlete_days_per_s"] > 0
