"""The workspace's token rule: the same bearer token as ``relgraph serve``; a browser gets it once, through
a one-time link printed at start or the login form, then carries it as an HttpOnly, SameSite=Strict
cookie (so other sites can neither read it nor make the browser send it). Without it: 401."""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi.responses import HTMLResponse
from starlette._utils import get_route_path

from relgraph.serve.auth import authorized

COOKIE = "relgraph_token"
#: Seconds a one-time link stays valid.
LINK_TTL_S = 600
#: Paths open without the token: the login itself, liveness and the vendored static files.
OPEN_PATHS = ("/login", "/health", "/static/")
LOGIN_FORM = """<!doctype html><html><head><meta charset="utf-8"><title>relgraph: sign in</title>
<link rel="stylesheet" href="{base}/static/workspace.css"></head><body class="login"><main>
<h1>relgraph workspace</h1><p>{message}</p>
<form method="post" action="{base}/login"><label>Token <input type="password" name="token" autofocus></label>
<button type="submit">Sign in</button></form>
<p class="hint">Open the one-time link <code>relgraph ui</code> printed, or paste the bearer token
(<code>$RELGRAPH_TOKEN</code> or <code>~/.config/relgraph/serve_token</code>).</p></main></body></html>"""


class OneTimeLinks:
    """Codes that each let one browser in once (then the cookie carries the token)."""

    def __init__(self) -> None:
        self._codes: dict[str, float] = {}

    def new(self) -> str:
        code = secrets.token_urlsafe(24)
        self._codes[code] = time.monotonic() + LINK_TTL_S
        return code

    def redeem(self, code: str) -> bool:
        for known in list(self._codes):
            if hmac.compare_digest(known.encode(), code.encode()):
                return self._codes.pop(known) >= time.monotonic()
        return False


def login_page(base: str, message: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(LOGIN_FORM.format(base=base, message=message), status_code=status)


def cookie_token(headers: dict[bytes, bytes]) -> str:
    """The token cookie's value ('' when absent)."""
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return ""


class WorkspaceGuard:
    """ASGI middleware: every path but :data:`OPEN_PATHS` needs the bearer header or the cookie (401)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token

    def allowed(self, headers: dict[bytes, bytes]) -> bool:
        header = headers.get(b"authorization", b"").decode("latin-1")
        cookie = cookie_token(headers)
        return authorized(header, self.token) or bool(cookie) and hmac.compare_digest(cookie.encode(), self.token.encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not get_route_path(scope).startswith(OPEN_PATHS):
            headers = {k.lower(): v for k, v in scope.get("headers", [])}
            if not self.allowed(headers):
                page = login_page(scope.get("root_path", ""), "Sign in: this workspace needs its token.", 401)
                page.headers["WWW-Authenticate"] = "Bearer"
                return await page(scope, receive, send)
        return await self.app(scope, receive, send)


def form_fields(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (the last value of each name)."""
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def mount_workspace(app: Any, workspace: Any, prefix: str = "/ui") -> Any:
    """One ASGI app: ``workspace`` under ``prefix`` (``relgraph serve --ui``), ``app`` everywhere else."""

    async def combined(scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == prefix or path.startswith(prefix + "/")):
            return await workspace(dict(scope, root_path=scope.get("root_path", "") + prefix), receive, send)
        return await app(scope, receive, send)

    combined.app = app.app  # type: ignore[attr-defined]  # the serve app's state stays reachable
    return combined
