"""The app's guard: token, Host, Origin / Referer and body-size checks, CSRF tokens, headers.

The security model:
  * `serve` binds 127.0.0.1 unless told otherwise; binding any other address needs a token
    (`require_token`), and the app never starts without one there.
  * With a token, every request carries it: `Authorization: Bearer TOKEN`, or the cookie set
    by visiting `/?token=TOKEN` once (HttpOnly, SameSite=Strict; the token is then removed
    from the address by a redirect). Otherwise 401.
  * Without a token (loopback only), the Host header must name the loopback (`127.0.0.1`,
    `localhost`, `::1`): a page elsewhere cannot reach the app by DNS rebinding.
  * Unsafe methods (POST, ...) from another origin are refused (403): the Origin header, or
    else the Referer, must name this host. Forms also carry a CSRF token tied to a random
    cookie (HMAC of it with the app's secret); the JSON API takes only application/json,
    which a cross-site form cannot send.
  * Request bodies over `max_body` bytes are refused (413) before the app reads them.
  * Every response says nosniff, no framing, same-origin referrers and a strict Content
    Security Policy (nothing is loaded from elsewhere: no CDN, inline CSS, data: images).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Collection
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_ENV = "COACHRL_TOKEN"
TOKEN_COOKIE = "coachrl_token"
CSRF_COOKIE = "coachrl_csrf"
CSRF_FIELD = "csrf_token"
MAX_BODY = 64 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "content-security-policy": ("default-src 'none'; img-src 'self' data:; "
                                "style-src 'unsafe-inline'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
}


class TokenRequired(RuntimeError):
    """`serve` was asked to bind a non-loopback address without a token."""


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_token(host: str, token: str | None) -> None:
    """Refuses (TokenRequired) to serve a non-loopback `host` without a token."""
    if not is_loopback(host) and not token:
        raise TokenRequired(
            f"refusing to serve on {host}: the app would be reachable from other machines "
            f"without a token. Pass --token (or set {TOKEN_ENV}) or bind 127.0.0.1.")


def cookie_value(token: str) -> str:
    """What the token cookie holds: a digest of the token, not the token."""
    return hashlib.sha256(f"coachrl-cookie:{token}".encode()).hexdigest()


def csrf_for(secret: bytes, cookie: str) -> str:
    """The form token of a CSRF cookie."""
    return hmac.new(secret, cookie.encode(), hashlib.sha256).hexdigest()


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(secret: bytes, cookie: str | None, token: str | None) -> bool:
    return bool(cookie and token) and hmac.compare_digest(csrf_for(secret, cookie), token)


def _cookies(headers: Headers) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is as good as none
        return {}
    return {k: m.value for k, m in jar.items()}


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(url: str, host: str) -> bool:
    try:
        return urlsplit(url).netloc.lower() == host.lower()
    except ValueError:
        return False


def error_response(scope: Scope, status: int, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """The error as JSON under /api (and for /openapi.json), else as a small HTML page."""
    if scope.get("path", "").startswith(("/api", "/openapi")):
        return JSONResponse({"error": message}, status, headers=headers)
    from coachrl.app.pages import error_page
    return HTMLResponse(error_page(status, message), status, headers=headers)


class Guard:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, token: str | None = None,
                 allowed_hosts: Collection[str] = LOOPBACK_NAMES, max_body: int = MAX_BODY
                 ) -> None:
        self.app = app
        self.token = token or None
        self.allowed_hosts = {h.strip("[]").lower() for h in allowed_hosts}
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] in UNSAFE or "content-length" in Headers(scope=scope):
            body = await self._read_body(scope, receive)
            if body is None:
                await error_response(scope, 413, f"request body over the limit of "
                                     f"{self.max_body // 1024} kB")(scope, receive, send)
                return
            receive = _replay(body, receive)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.token is None and _hostname(host).lower() not in self.allowed_hosts:
            return error_response(scope, 400, f"host {host!r} is not served here: open the app "
                                  "at http://127.0.0.1:<port>/ (or start it with a token)")
        if self.token is not None:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = query.get("token")
            if given is not None and scope["method"] == "GET" and hmac.compare_digest(
                    given.encode(), self.token.encode()):
                rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
                response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), 303)
                response.set_cookie(TOKEN_COOKIE, cookie_value(self.token), httponly=True,
                                    samesite="strict", path="/")
                return response
            if not self._authorised(headers):
                return error_response(
                    scope, 401, "this app needs its token: send 'Authorization: Bearer TOKEN' "
                    "or open /?token=TOKEN once in this browser", {"www-authenticate": "Bearer"})
        if scope["method"] in UNSAFE:
            origin, referer = headers.get("origin"), headers.get("referer")
            if origin is not None:
                same = origin != "null" and _same_origin(origin, host)
            else:
                same = referer is None or _same_origin(referer, host)
            if not same:
                return error_response(scope, 403, "cross-site request refused: the request "
                                      "does not come from this app's pages")
        return None

    def _authorised(self, headers: Headers) -> bool:
        assert self.token is not None
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              self.token.encode()):
            return True
        cookie = _cookies(headers).get(TOKEN_COOKIE)
        return cookie is not None and hmac.compare_digest(cookie, cookie_value(self.token))

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole request body, or None once it passes `max_body` (or says it will)."""
        declared = Headers(scope=scope).get("content-length", "0")
        if not declared.isdigit() or int(declared) > self.max_body:
            return None
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` first, then whatever the client sends (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "Guard", "MAX_BODY", "TOKEN_COOKIE", "TOKEN_ENV",
           "TokenRequired", "csrf_for", "csrf_ok", "error_response", "is_loopback",
           "new_csrf_cookie", "require_token"]
