"""``relgraph ui``: a local web workspace over a database (Schema, Query, Answers, Runs views).

Server-rendered Jinja2 pages with htmx (vendored in ``static/``, shipped in the wheel: no CDN, works
offline); the schema graph is an SVG drawn on the server. ARCHITECTURE.md says why.

    >>> from relgraph.serve.workspace import create_workspace
    >>> app = create_workspace("sqlite:///shop.db", "runs", token="...")   # any ASGI server runs it
"""

from __future__ import annotations

from relgraph.serve.workspace.app import create_workspace
from relgraph.serve.workspace.auth import COOKIE, OneTimeLinks

__all__ = ["COOKIE", "OneTimeLinks", "create_workspace"]
