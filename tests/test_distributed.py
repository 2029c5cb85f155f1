"""The distributed trainer for real: Ray, a Reverb server, actor processes and a learner.

The default suite runs one tiny PPO program (2 actors, a few hundred batch
steps, about 35 s); a tiny MPO one is slow-marked. The slow-marked tests kill processes
mid-run: an actor (Ray starts it again and steps keep rising), the learner (it
comes back from its checkpoint), and the whole run with SIGTERM (a final
checkpoint, no process left behind, and --resume continues from its step).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from coachrl.checkpoint import latest_checkpoint, read_metadata
from coachrl.training.config import load_train_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ["trainer.rollout_length=8", "distributed.envs_per_actor=8",
        "distributed.log_every_s=1", "trainer.eval_athletes=4", "trainer.eval_days=30"]
TINY_PPO = TINY + ["ppo.num_minibatches=2", "ppo.hidden_sizes=[16,16]"]
TINY_MPO = TINY + ["mpo.min_replay_size=64", "mpo.batch_size=32", "mpo.num_samples=4",
                   "mpo.hidden_sizes=[16,16]", "mpo.critic_hidden_sizes=[16,16]"]


def ray_processes() -> list[psutil.Process]:
    """This machine's Ray processes (workers are titled ray::<Class>.<method>)."""
    out = []
    for p in psutil.process_iter(["cmdline", "name"]):
        try:
            text = " ".join(p.info["cmdline"] or []) + " " + (p.info["name"] or "")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "ray::" in text or "raylet" in text or "gcs_server" in text:
            out.append(p)
    return out


@pytest.mark.parametrize("agent,overrides,total", [
    ("ppo", TINY_PPO, 1_600),
    pytest.param("mpo", TINY_MPO, 1_200, marks=pytest.mark.slow)])  # one in the default run
def test_a_tiny_distributed_run_learns_and_checkpoints(tmp_path, agent, overrides, total):
    from coachrl.training.checkpoints import load_coach
    from coachrl.training.distributed.program import train_distributed

    config = load_train_config(ROOT / "configs" / f"{agent}.yaml",
                               overrides + [f"trainer.total_env_steps={total}"])
    result = train_distributed(config, tmp_path / "run", num_actors=2, evaluate_at_end=False,
                               verbose=False)
    assert result.env_steps >= total and result.learner_steps > 0
    assert result.actor_starts == 2
    if agent == "ppo":  # the queue: every sequence is learned from once at most
        assert 0 < result.samples_per_insert <= 1.0
    else:  # the rate limiter keeps the ratio near samples_per_insert (8)
        assert 4.0 < result.samples_per_insert < 12.0
    coach = load_coach(tmp_path / "run")  # the jitted trainer's checkpoint format
    assert read_metadata(coach.path)["step"] == result.learner_steps
    assert coach.metadata["counters"]["env_steps"] >= total
    with open(tmp_path / "run" / "logs.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and float(rows[-1]["env_steps"]) >= total
    with pytest.raises(FileExistsError, match="already holds a run"):
        train_distributed(config, tmp_path / "run", num_actors=1, verbose=False)


def launch(workdir: Path, *extra: str, total: int = 10**9) -> subprocess.Popen:
    args = [sys.executable, str(ROOT / "launch" / "train_local.py"), "--backend", "distributed",
            "--num_actors", "2", "--workdir", str(workdir),
            *(f"--set={s}" for s in TINY_PPO + ["distributed.checkpoint_every_s=2",
                                                f"trainer.total_env_steps={total}",
                                                "trainer.max_minutes=0"]), *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=ROOT)


def logged(workdir: Path) -> list[dict[str, float]]:
    try:
        with open(workdir / "logs.csv") as f:
            return [{k: float(v) for k, v in row.items() if v not in ("", None)}
                    for row in csv.DictReader(f)]
    except FileNotFoundError:
        return []


def wait_for(condition, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def worker(title: str) -> psutil.Process:
    return next(p for p in ray_processes() if title in " ".join(p.cmdline()))


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=180)
    return output


@pytest.mark.slow
def test_killed_actor_restarts_and_steps_keep_rising(tmp_path):
    run = launch(tmp_path / "run")
    try:
        wait_for(lambda: logged(tmp_path / "run") and
                 logged(tmp_path / "run")[-1].get("env_steps", 0) > 500, 120, "actors stepping")
        worker("ray::Actor").kill()  # SIGKILL one actor process
        before = logged(tmp_path / "run")[-1]["env_steps"]
        wait_for(lambda: logged(tmp_path / "run")[-1].get("actor_starts", 0) >= 3, 120,
                 "the actor to be started again")
        wait_for(lambda: logged(tmp_path / "run")[-1]["env_steps"] > before + 2_000, 120,
                 "steps to keep rising")
    finally:
        output = stop(run)
    assert run.returncode == 0, output


@pytest.mark.slow
def test_killed_learner_comes_back_from_its_checkpoint(tmp_path):
    run = launch(tmp_path / "run")
    try:
        wait_for(lambda: latest_checkpoint(tmp_path / "run"), 120, "a checkpoint")
        checkpoint_step = read_metadata(latest_checkpoint(tmp_path / "run"))["step"]
        worker("ray::Learner").kill()
        killed_at = time.monotonic()
        wait_for(lambda: read_metadata(latest_checkpoint(tmp_path / "run"))["step"]
                 > checkpoint_step + 5, 150, "the learner to checkpoint again")
    finally:
        output = stop(run)
    assert run.returncode == 0, output
    assert time.monotonic() > killed_at
    # The restarted learner counted on from the checkpoint: its steps never fell below it.
    later = [r["learner_steps"] for r in logged(tmp_path / "run")
             if not r.get("learner_steps", 0) == 0][-3:]
    assert min(later) >= checkpoint_step


@pytest.mark.slow
def test_sigterm_checkpoints_leaves_no_process_and_resume_continues(tmp_path):
    before = {p.pid for p in ray_processes()}
    run = launch(tmp_path / "run")
    wait_for(lambda: (logged(tmp_path / "run") or [{}])[-1].get("learner_steps", 0) > 5, 120,
             "learning")
    output = stop(run)
    assert run.returncode == 0, output
    assert "SIGTERM: stopping every node" in output
    step = read_metadata(latest_checkpoint(tmp_path / "run"))["step"]
    assert step > 5
    time.sleep(2)
    assert {p.pid for p in ray_processes()} <= before, "Ray processes outlived the run"

    refused = launch(tmp_path / "run")  # without --resume: refused, nothing started
    assert refused.wait(timeout=120) == 2
    resumed = launch(tmp_path / "run", "--resume")
    wait_for(lambda: read_metadata(latest_checkpoint(tmp_path / "run"))["step"] > step + 5,
             150, "the resumed run to checkpoint")
    output = stop(resumed)
    assert resumed.returncode == 0, output
    assert f"resumed from learner step {step}" in output
    rows = logged(tmp_path / "run")
    assert all(r["learner_steps"] >= step for r in rows[-2:])
    assert os.path.exists(tmp_path / "run" / "config.yaml")


def test_launch_flags_are_checked(tmp_path):
    def run(script: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "launch" / script), *args,
                               "--workdir", str(tmp_path / "run")],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)

    result = run("train_local.py", "--num_actors", "2")
    assert result.returncode == 2 and "--num_actors needs --backend distributed" in result.stderr
    result = run("train_cluster.py", "--address", "127.0.0.1:9")  # nothing listens there
    assert result.returncode == 2 and "no Ray head answers there" in result.stderr


def bench_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_distributed",
                                                  ROOT / "scripts" / "bench_distributed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_steady_rates_by_hand():
    rows = [{"seconds": 1.0, "env_steps": 0.0, "learner_steps": 0.0},
            {"seconds": 3.0, "env_steps": 100.0, "learner_steps": 1.0},  # stepping begins
            {"seconds": 6.0, "env_steps": 400.0, "learner_steps": 4.0},  # >= 3 + warmup 2
            {"seconds": 11.0, "env_steps": 1400.0, "learner_steps": 9.0}]
    rates = bench_script().steady_rates(rows, warmup=2.0)
    assert rates == {"env_steps_per_s": 200.0, "learner_steps_per_s": 1.0, "measured_s": 5.0}


@pytest.mark.slow
def test_bench_distributed_prints_json_last():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_distributed.py"),
                             "--actors", "1", "--window", "2", "--warmup", "0",
                             *(f"--set={s}" for s in TINY_PPO)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    row = report["results"][0]
    assert row["num_actors"] == 1 and row["actor_env_steps_per_s"] > 0
    assert row["env_steps_per_s"] > 0 and 0 < row["samples_per_insert"] <= 1.0


def test_scaling_model_by_hand():
    m = {"actor_env_steps_per_s": 1000.0, "replay_insert_transitions_per_s": 50_000.0,
         "replay_sample_transitions_per_s": 80_000.0, "learner_updates_per_s": 10.0,
         "learner_batch_transitions": 4096.0, "samples_per_transition": 1.0,
         "variable_update_period": 64.0, "envs_per_actor": 64.0, "parameter_pull_s": 0.0,
         "parameter_bytes": 4096.0, "record_bytes": 100.0, "cores_per_node": 16.0}
    model = bench_script().scaling_model
    few = model(m, 8)  # 8 x 1,000 = 8,000 < replay 50,000 and learner 40,960
    assert (few["env_steps_per_s"], few["bottleneck"], few["nodes"]) == (8000.0, "actors", 1.0)
    many = model(m, 512)  # learner: 10 x 4,096 = 40,960 < replay 50,000
    assert (many["env_steps_per_s"], many["bottleneck"], many["nodes"]) == (40960.0, "learner",
                                                                             32.0)
    # traffic: 40,960 x (100 + 4,096 / (64 x 64)) bytes = 40,960 x 101 bytes
    assert many["network_mb_per_s"] == pytest.approx(40960 * 101 / 1e6)
    mpo = model({**m, "samples_per_transition": 8.0}, 512)  # samples: 80,000 / 8 = 10,000
    assert (mpo["env_steps_per_s"], mpo["bottleneck"]) == (5120.0, "learner")  # 40,960 / 8
    # a 0.1 s pull: e = 40,960 / (1 + 40,960 x 0.1 / 4,096) = 40,960 / 2
    slow_pull = model({**m, "parameter_pull_s": 0.1}, 512)
    assert slow_pull["learner"] == pytest.approx(40960 / 2.0)


@pytest.mark.slow
def test_bench_distributed_scaling_prints_json_last():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_distributed.py"),
                             "--scaling", *(f"--set={s}" for s in TINY_PPO)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["projected_env_steps_per_s"]) == {"8", "64", "512"}
    assert report["bottleneck"] in ("learner", "replay", "actors")
    for key in ("actor_env_steps_per_s", "learner_updates_per_s", "learner_batch_transitions",
                "replay_insert_transitions_per_s", "replay_sample_transitions_per_s",
                "parameter_pull_s"):
        assert report["measured"][key] > 0
