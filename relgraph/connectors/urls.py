"""Source locators: paths inside ``sqlite:///`` / ``duckdb:///`` URLs, database-server URLs (one
parser and one set of defaults for reading and for write-back), password removal, identifier quoting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

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


#: Seconds to wait for a database server to answer (TCP probe and login).
CONNECT_TIMEOUT_S = 5.0
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
POSTGRES_PORT = 5432
MYSQL_PORT = 3306


@dataclass(frozen=True)
class PostgresURL:
    """``postgresql://user[:password]@host[:port]/database[?schema=NAME]``: ``libpq_url`` is what
    libpq and connectorx take (``postgresql://`` scheme, relgraph's own parameters removed; no TLS
    to this very machine), ``schema`` the schema named (default ``public``)."""

    url: str
    libpq_url: str
    schema: str
    host: str | None
    port: int | None


def parse_postgres_url(url: str) -> PostgresURL:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    schema = params.pop("schema", "public")
    if parts.hostname in LOOPBACK_HOSTS:
        # TLS to this very machine protects nothing and costs connectorx ~45 ms per query.
        params.setdefault("sslmode", "disable")
    libpq = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(params)))
    return PostgresURL(url, libpq, schema, parts.hostname, parts.port)


@dataclass(frozen=True)
class MySQLURL:
    """``mysql://user[:password]@host[:port]/database`` (``mariadb://`` too): ``cx_url`` for
    connectorx, ``login()`` the keyword arguments of ``pymysql.connect``."""

    url: str
    cx_url: str
    host: str
    port: int
    user: str
    password: str
    database: str

    def login(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                "database": self.database, "charset": "utf8mb4", "connect_timeout": int(CONNECT_TIMEOUT_S)}


def parse_mysql_url(url: str) -> MySQLURL:
    """Raises SourceError when the URL names no database."""
    parts = urlsplit(url)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise SourceError(f"{redact_password(url)}: name the database, e.g. mysql://root@127.0.0.1:3306/test")
    return MySQLURL(
        url,
        urlunsplit(parts._replace(scheme="mysql")),
        parts.hostname or "localhost",
        parts.port or MYSQL_PORT,
        unquote(parts.username or ""),
        unquote(parts.password or ""),
        database,
    )
