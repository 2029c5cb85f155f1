"""Latency of the web app under load: today's page (cached plan), the API plan and history.

    .venv/bin/python scripts/bench_serve.py [--requests 2000] [--concurrency 32]
        [--checkpoint runs/demo/coach] [--db URL --athlete demo --date YYYY-MM-DD]

Starts `coachrl.app.serve` in a subprocess on a free 127.0.0.1 port (over --db, or a temp
store with 60 simulated days from scripts/make_demo_log.py), warms it (the first plan and
charts), then sends --requests requests, --concurrency at a time, cycling through today's
page, GET /api/.../plan and GET /api/.../history. The load generator is wrk's design: one
keep-alive HTTP/1.1 connection per concurrent client, each keeping its cookies as a browser
does, all on one asyncio (uvloop) loop; every response is read to its end and counts as an
error unless it is a 200. (A thread per client, each with an httpx.Client, spent more CPU
than the server it measured: on 2 cores the client was the bottleneck.) Progress goes to
stderr; the last stdout line is one JSON object: concurrency, requests, p50_ms, p99_ms, rps,
errors.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import importlib.util
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 30.0  # one request, connecting included
Headers = list[tuple[bytes, bytes]]


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


def _fetch(port: int, path: str, timeout: float) -> tuple[int, bytes]:
    """One GET on its own connection (the start-up check and the warm-up): status, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def request_bytes(path: str, port: int, cookies: dict[bytes, bytes]) -> bytes:
    """A GET of `path` from 127.0.0.1:`port`, with the cookies set so far."""
    head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench_serve\r\n"
            f"Accept: */*\r\n").encode()
    if cookies:
        head += b"Cookie: " + b"; ".join(k + b"=" + v for k, v in cookies.items()) + b"\r\n"
    return head + b"\r\n"


async def read_response(reader: asyncio.StreamReader) -> tuple[int, Headers]:
    """One HTTP/1.1 response read to the end of its body (Content-Length, chunked, or up to
    the close): the status and the headers, names in lower case."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].split(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    headers = [(name.strip().lower(), value.strip())
               for name, _, value in (line.partition(b":") for line in lines)]
    fields = dict(headers)
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)  # the chunk and its CRLF
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
            pass
    elif b"content-length" in fields:
        await reader.readexactly(int(fields[b"content-length"]))
    elif status not in (204, 304):
        await reader.read()  # the body ends with the connection
    return status, headers


def _keeps_alive(headers: Headers) -> bool:
    """Whether the connection can carry the next request (the body had a known end)."""
    fields = dict(headers)
    framed = b"content-length" in fields or b"transfer-encoding" in fields
    return framed and fields.get(b"connection", b"").lower() != b"close"


async def load(port: int, paths: Sequence[str], requests: int, concurrency: int
               ) -> tuple[list[float], int, float]:
    """`requests` GETs cycling through `paths`, from `concurrency` clients at once, each on
    its own keep-alive connection (opened again after an error): (latencies in ms, errors,
    seconds). A request's latency runs from its first byte sent to its last byte read."""
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()

    async def client() -> None:
        nonlocal errors
        cookies: dict[bytes, bytes] = {}
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while (i := next(counter)) < requests:
            request = request_bytes(paths[i % len(paths)], port, cookies)
            start = time.perf_counter()
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    if connection is None:
                        connection = await asyncio.open_connection("127.0.0.1", port)
                    connection[1].write(request)
                    status, headers = await read_response(connection[0])
                ok, keep = status == 200, _keeps_alive(headers)
                for name, value in headers:
                    if name == b"set-cookie":
                        key, _, rest = value.partition(b"=")
                        cookies[key.strip()] = rest.split(b";", 1)[0].strip()
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError):
                ok, keep = False, False
            latencies.append((time.perf_counter() - start) * 1000.0)
            errors += not ok
            if not keep and connection is not None:
                connection[1].close()
                connection = None
            if len(latencies) % 500 == 0:
                print(f"  {len(latencies)}/{requests} requests", file=sys.stderr)
        if connection is not None:
            connection[1].close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - began


def run_load(port: int, paths: Sequence[str], requests: int, concurrency: int
             ) -> tuple[list[float], int, float]:
    """`load` on a fresh uvloop event loop (the server's own loop)."""
    import uvloop

    return uvloop.run(load(port, paths, requests, concurrency))


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

    with tempfile.TemporaryDirectory() as folder:
        url = args.db or _demo_store(folder, date)
        port = _free_port()
        server = _start_server(port, url, args.checkpoint)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if _fetch(port, "/api/athletes", timeout=2)[0] == 200:
                        break
                except (OSError, http.client.HTTPException):
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    print("error: the server did not start", file=sys.stderr)
                    return 2
                time.sleep(0.2)
            a, d = args.athlete, date.isoformat()
            paths = [f"/athletes/{a}?date={d}", f"/api/athletes/{a}/plan?date={d}",
                     f"/api/athletes/{a}/history"]
            print(f"warming up http://127.0.0.1:{port} (the first plan and charts)",
                  file=sys.stderr)
            for path in paths:
                status, body = _fetch(port, path, timeout=120)
                if status != 200:
                    print(f"error: GET {path}: {status} {body[:300].decode(errors='replace')}",
                          file=sys.stderr)
                    return 2
            print(f"{args.requests} requests, {args.concurrency} at a time", file=sys.stderr)
            latencies, errors, elapsed = run_load(port, paths, args.requests, args.concurrency)
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
