"""``relgraph serve``: an HTTP API (FastAPI + uvicorn) over a trained run and a live database.

    >>> from relgraph.serve import create_app
    >>> app = create_app("runs/churn", "sqlite:///shop.db", token="...")   # any ASGI server runs it
"""

from __future__ import annotations

from relgraph.serve.app import MAX_BODY_BYTES, MAX_EXPLAIN_IDS, MAX_PREDICT_IDS, create_app
from relgraph.serve.auth import TOKEN_ENV, resolve_token

__all__ = ["MAX_BODY_BYTES", "MAX_EXPLAIN_IDS", "MAX_PREDICT_IDS", "TOKEN_ENV", "create_app", "resolve_token"]
