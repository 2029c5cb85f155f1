"""The load generator of scripts/bench_serve.py against a small HTTP/1.1 server written here:
bodies framed by Content-Length, chunks or the close, cookies kept per client, errors counted."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_serve", ROOT / "scripts" / "bench_serve.py")
bench_serve = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_serve)


class FakeServer:
    """GET /plain (Content-Length; sets a cookie until the client sends it back), /chunked,
    /close (no length: the body ends with the connection) and anything else (404)."""

    def __init__(self) -> None:
        self.connections = 0
        self.with_cookie = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            path = head.split(b" ", 2)[1]
            cookie = b"\r\ncookie: visitor=v1\r\n" in head.lower()
            self.with_cookie += cookie
            if path == b"/plain":
                extra = b"" if cookie else b"Set-Cookie: visitor=v1; HttpOnly; Path=/\r\n"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + extra + b"\r\nhello")
            elif path == b"/chunked":
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"3\r\nabc\r\n4;x=1\r\ndefg\r\n0\r\n\r\n")
            elif path == b"/close":
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
                await writer.drain()
                break
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
            await writer.drain()
        writer.close()


def run(paths: list[str], requests: int, concurrency: int) -> tuple[FakeServer, tuple]:
    fake = FakeServer()

    async def main() -> tuple:
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await bench_serve.load(port, paths, requests, concurrency)

    return fake, asyncio.run(main())


def test_every_response_is_read_to_its_end_on_keep_alive_connections():
    fake, (latencies, errors, seconds) = run(["/plain", "/chunked"], 40, 4)
    assert len(latencies) == 40 and errors == 0 and seconds > 0
    assert all(ms >= 0 for ms in latencies)
    assert fake.connections == 4  # one keep-alive connection per client


def test_each_client_keeps_its_cookies():
    fake, (latencies, errors, _) = run(["/plain"], 20, 4)
    assert errors == 0 and fake.with_cookie == 20 - 4  # all but each client's first request


def test_non_200_answers_are_errors_and_a_closed_connection_is_opened_again():
    fake, (latencies, errors, _) = run(["/plain", "/missing", "/close"], 30, 1)
    assert len(latencies) == 30 and errors == 10  # the ten 404s
    assert fake.connections == 10  # the first, and one after each /close but the last


def test_a_server_that_is_not_there_is_all_errors():
    async def main() -> tuple:
        return await bench_serve.load(bench_serve._free_port(), ["/"], 6, 3)

    latencies, errors, _ = asyncio.run(main())
    assert len(latencies) == 6 and errors == 6


def test_the_request_carries_the_host_and_the_cookies():
    request = bench_serve.request_bytes("/api/x?date=2026-03-01", 8123, {b"a": b"1", b"b": b"2"})
    assert request == (b"GET /api/x?date=2026-03-01 HTTP/1.1\r\nHost: 127.0.0.1:8123\r\n"
                       b"User-Agent: bench_serve\r\nAccept: */*\r\nCookie: a=1; b=2\r\n\r\n")
