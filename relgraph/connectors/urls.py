"""Source locators: paths inside ``sqlite:///`` / ``duckdb:///`` URLs, password removal, identifier quoting."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from relgraph.errors import SourceError


def file_url_path(url: str) -> tuple[Path, dict[str, str]]:
    """The file a ``scheme:///path`` URL names, and its query parameters.

    ``sqlite:///tmp/shop.db`` is the absolute ``/tmp/shop.db`` when that exists; otherwise,
    as in SQLAlchemy, the part after the third slash is relative to the working directory
    (``sqlite:///shop.db``). ``sqlite:////abs/shop.db`` is absolute as well.
    """
    scheme, rest = url.split("://", 1)
    rest, _, query = rest.partition("?")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not rest.startswith("/"):
        raise SourceError(f"{url!r}: write {scheme}:///path/to/file (three slashes, then the path)")
    absolute = Path(rest)
    relative = Path(rest[1:])
    if not absolute.exists() and relative.exists():
        return relative.resolve(), params
    return absolute, params


def redact_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (``postgresql://u:***@host/db``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def quote_ident(name: str, quote: str = '"') -> str:
    """An SQL identifier quoted (reserved words, spaces, non-ASCII all safe); ``quote`` is ``"`` or `` ` ``."""
    return quote + name.replace(quote, quote * 2) + quote
