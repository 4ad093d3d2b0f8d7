"""The service's bearer token: from ``RELGRAPH_TOKEN``, else a token file (generated on first start).

The token file holds one line; a generated one is written with mode 0600 and printed once, so the
operator can hand it to the calling application. Comparison is constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from relgraph.errors import SourceError

TOKEN_ENV = "RELGRAPH_TOKEN"
DEFAULT_TOKEN_FILE = Path.home() / ".config" / "relgraph" / "serve_token"
MIN_TOKEN_CHARS = 16


def resolve_token(token_file: Path | None = None) -> tuple[str, bool]:
    """(token, generated): ``$RELGRAPH_TOKEN``, else the token file's content, else a new random
    token written to the token file (``generated`` True)."""
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        _check(env, f"${TOKEN_ENV}")
        return env, False
    path = Path(token_file) if token_file is not None else DEFAULT_TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        _check(token, str(path))
        return token, False
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created with 0600 from the start: the token is never readable by other users.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def _check(token: str, where: str) -> None:
    if len(token) < MIN_TOKEN_CHARS:
        raise SourceError(f"the token in {where} is shorter than {MIN_TOKEN_CHARS} characters; use a long random one")


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant-time comparison)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
