"""Latency of the web app under load: today's page (cached plan), the API plan and history.

    .venv/bin/python scripts/bench_serve.py [--requests 2000] [--concurrency 32]
        [--checkpoint runs/demo/coach] [--db URL --athlete demo --date YYYY-MM-DD]

Starts `coachrl.app.serve` in a subprocess on a free 127.0.0.1 port (over --db, or a temp
store with 60 simulated days from scripts/make_demo_log.py), warms it (the first plan and
charts), then sends --requests requests, --concurrency at a time (threads, one httpx client
each), cycling through today's page, GET /api/.../plan and GET /api/.../history. Progress
goes to stderr; the last stdout line is one JSON object: concurrency, requests, p50_ms,
p99_ms, rps, errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--checkpoint", default=str(ROOT / "runs" / "demo" / "coach"))
    parser.add_argument("--db", default=None, help="store URL (default: a temp demo store)")
    parser.add_argument("--athlete", default="demo")
    parser.add_argument("--date", default=None, help="the day planned (default: today)")
    return parser.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo_store(folder: str, end: dt.date) -> str:
    url = f"sqlite:///{folder}/coach.db"
    spec = importlib.util.spec_from_file_location("make_demo_log",
                                                  ROOT / "scripts" / "make_demo_log.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.main(["--db", url, "--days", "60", "--end", end.isoformat()]) != 0:
        raise SystemExit("error: could not make the demo store")
    return url


def _start_server(port: int, url: str, checkpoint: str) -> subprocess.Popen:
    code = ("import sys; from coachrl.app import serve; "
            "serve(port=int(sys.argv[1]), db_url=sys.argv[2], checkpoint=sys.argv[3])")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("COACHRL_TOKEN", None)
    return subprocess.Popen([sys.executable, "-c", code, str(port), url, checkpoint],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def _run(base: str, paths: list[str], requests: int, concurrency: int
         ) -> tuple[list[float], int, float]:
    """`requests` GETs cycling through `paths`, from `concurrency` threads (one keep-alive
    httpx.Client each: on a small machine, cheaper per request than httpx's asyncio client)."""
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    lock = threading.Lock()

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=30) as client:
            while (i := next(counter)) < requests:
                start = time.perf_counter()
                try:
                    ok = client.get(paths[i % len(paths)]).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append((time.perf_counter() - start) * 1000.0)
                    errors += not ok
                    if len(latencies) % 500 == 0:
                        print(f"  {len(latencies)}/{requests} requests", file=sys.stderr)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - began


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        print("error: --requests and --concurrency must be >= 1", file=sys.stderr)
        return 2
    if not Path(args.checkpoint).exists():
        print(f"error: --checkpoint {args.checkpoint}: no such coach (train one, e.g. "
              f"coachrl train, or pass a run folder)", file=sys.stderr)
        return 2
    try:
        date = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    except ValueError:
        print(f"error: --date {args.date!r}: expected YYYY-MM-DD", file=sys.stderr)
        return 2
    import httpx

    with tempfile.TemporaryDirectory() as folder:
        url = args.db or _demo_store(folder, date)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _start_server(port, url, args.checkpoint)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/api/athletes", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    print("error: the server did not start", file=sys.stderr)
                    return 2
                time.sleep(0.2)
            a, d = args.athlete, date.isoformat()
            paths = [f"/athletes/{a}?date={d}", f"/api/athletes/{a}/plan?date={d}",
                     f"/api/athletes/{a}/history"]
            print(f"warming up {base} (the first plan and charts)", file=sys.stderr)
            for path in paths:
                warm = httpx.get(base + path, timeout=120)
                if warm.status_code != 200:
                    print(f"error: GET {path}: {warm.status_code} {warm.text[:300]}",
                          file=sys.stderr)
                    return 2
            print(f"{args.requests} requests, {args.concurrency} at a time", file=sys.stderr)
            latencies, errors, elapsed = _run(base, paths, args.requests, args.concurrency)
        finally:
            server.terminate()
            server.wait(10)
    print(json.dumps({"concurrency": args.concurrency, "requests": len(latencies),
                      "p50_ms": round(_percentile(latencies, 50), 2),
                      "p99_ms": round(_percentile(latencies, 99), 2),
                      "rps": round(len(latencies) / elapsed, 1), "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
