"""The HTTP API of ``relgraph serve`` (FastAPI; OpenAPI docs at ``/docs``, with the token).

- ``GET /health`` (no token): liveness;
- ``GET /model``: task, query, metrics, trained-at, schema fingerprint;
- ``GET /report``: the run's ``report.html``;
- ``POST /predict`` ``{"ids": [...], "at": optional time}``: predictions through the run's own
  predict path (probability / value / class / top-k ids with scores);
- ``POST /explain`` ``{"ids": [...], "at": ...}``: :func:`relgraph.runs.explain.explain` per id;
- ``POST /ask`` ``{"query": "PREDICT ...", "at": ..., "ids": [...] | "top": n, "explain": false}``:
  :func:`relgraph.runs.ask.ask` on the live database (predictions, backtest, context, evidence);
  the PQL is parsed and validated like any query (never raw SQL); bounded in length, ids and time
  (past ``ask_time_limit_s`` a 504 with one line). A service started without a run answers only
  ``/health`` and ``/ask``.

Every endpoint but ``/health`` needs ``Authorization: Bearer <token>`` (401 otherwise). Bodies
are bounded (``max_body`` bytes, 413; ``Content-Length`` required, 411) and so are id counts.
Bad input gets a 4xx with ``{"error": "<one line>"}`` and changes nothing: malformed JSON or
shape (422), unknown id / bad or out-of-range ``at`` / empty list (400 or 422), a database whose
schema no longer matches the model (409). Requests are answered one at a time (one lock): the
models and their per-database caches are not made for concurrent use, and a single request is
short. The database is only read.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from relgraph.errors import ModelError, QueryError, RelgraphError
from relgraph.runs.api import load
from relgraph.runs.ask import AskTimeoutError, ask
from relgraph.runs.explain import UnknownIdError, check_at, check_ids, explain_one, parse_at
from relgraph.runs.explain.run import LoadedRun
from relgraph.runs.explain.tabular import _json_value
from relgraph.runs.folder import RunFolder
from relgraph.serve.auth import authorized
from relgraph.serve.live import LiveDatabase

#: Ids per /predict request at most.
MAX_PREDICT_IDS = 1000
#: Ids per /explain request at most (each explanation runs the model a few times).
MAX_EXPLAIN_IDS = 10
#: Characters of a PQL query at most.
MAX_QUERY_CHARS = 2000
#: Seconds an /ask answer may take (checked between its stages).
ASK_TIME_LIMIT_S = 60.0
#: Request body bytes at most (1,000 ids of 40 characters fit).
MAX_BODY_BYTES = 64 * 1024

Id = StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=200)]


class PredictRequest(BaseModel):
    """Entities to predict for, at ``at`` (default: the latest time in the database)."""

    model_config = ConfigDict(extra="forbid")
    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_PREDICT_IDS)]
    at: Annotated[str, StringConstraints(max_length=64)] | None = None


class ExplainRequest(PredictRequest):
    """Entities to explain (at most :data:`MAX_EXPLAIN_IDS`)."""

    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_EXPLAIN_IDS)]


class AskRequest(BaseModel):
    """A predictive query answered on the live database at ``at``, for ``ids`` or the ``top`` entities
    (neither: every entity the query selects, highest scores first)."""

    model_config = ConfigDict(extra="forbid")
    query: Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUERY_CHARS)]
    at: Annotated[str, StringConstraints(max_length=64)] | None = None
    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_PREDICT_IDS)] | None = None
    top: Annotated[int, Field(ge=1, le=MAX_PREDICT_IDS)] | None = None
    explain: bool = False
    backtest: bool = True


class _Guard:
    """ASGI middleware: bearer token on every path but /health, bounded request bodies."""

    def __init__(self, app: Any, token: str, max_body: int) -> None:
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if scope["path"] != "/health":
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not authorized(given, self.token):
                return await _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)",
                                    {"WWW-Authenticate": "Bearer"})(scope, receive, send)
        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = headers.get(b"content-length")
            if length is None:
                return await _error(411, "send the body with a Content-Length header")(scope, receive, send)
            if not length.isdigit() or int(length) > self.max_body:
                return await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                return await _error(415, "send JSON with Content-Type: application/json")(scope, receive, send)
            seen = 0

            async def bounded() -> dict:
                nonlocal seen
                message = await receive()
                seen += len(message.get("body", b""))
                if seen > self.max_body:  # a body longer than its Content-Length says
                    raise ValueError("request body over the limit")
                return message

            return await self.app(scope, bounded, send)
        return await self.app(scope, receive, send)


class _NoRun(RelgraphError):
    """An endpoint of a served run, asked of a service that has none."""


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message.splitlines()[0] if message else "error"}, status_code=status, headers=headers)


class Service:
    """The loaded run (None: /ask only), the live database and the lock every model call holds."""

    def __init__(self, run: LoadedRun | None, live: LiveDatabase, ask_time_limit_s: float = ASK_TIME_LIMIT_S) -> None:
        self.run, self.live, self.ask_time_limit_s = run, live, ask_time_limit_s
        self.lock = threading.Lock()

    def ask(self, body: AskRequest) -> dict[str, Any]:
        with self.lock:
            answer = ask(self.live.get(), body.query, at=body.at, ids=list(body.ids) if body.ids else None, top=body.top,
                         explain=body.explain, with_backtest=body.backtest, time_limit_s=self.ask_time_limit_s)
        preds = [{k: _plain(v) for k, v in r.items()} for r in answer.to_dict("records")]
        return {**answer.attrs, "predictions": preds}

    def predict(self, ids: list[Any], at: str | None) -> dict[str, Any]:
        with self.lock:
            db = self.live.get()
            at_ts = check_at(db, parse_at(at, db, self.run.query))
            keys = check_ids(db, self.run, ids, at_ts)
            frame = self.run.predict_ids(db, keys, at_ts)
        key = self.run.entity_key
        preds = [{"id": _plain(r[key]), **{k: _plain(v) for k, v in r.items() if k not in (key, "timestamp")}}
                 for r in frame.to_dict("records")]
        return {"model": self.run.kind, "task_type": self.run.task_type, "at": at_ts.isoformat(), "predictions": preds}

    def explain(self, ids: list[Any], at: str | None) -> dict[str, Any]:
        with self.lock:
            db = self.live.get()
            at_ts = check_at(db, parse_at(at, db, self.run.query))
            keys = check_ids(db, self.run, ids, at_ts)
            out = [explain_one(self.run, db, k, at_ts) for k in keys]
        return {"model": self.run.kind, "at": at_ts.isoformat(), "explanations": out}

    def model_info(self) -> dict[str, Any]:
        run = self.run
        metrics_path = run.run_dir / "metrics.json"
        trained = pd.Timestamp(metrics_path.stat().st_mtime, unit="s").isoformat() if metrics_path.exists() else None
        return {
            "model": run.kind,
            "models": run.config.get("models"),
            "task_type": run.task_type,
            "query": run.query,
            "entity": f"{run.entity_table}.{run.entity_key}",
            "metrics": {k: run.metrics.get(k) for k in ("val", "test")},
            "baselines": run.metrics.get("baselines"),
            "threshold": run.config.get("threshold"),
            "classes": run.config.get("classes"),
            "trained_at": trained,
            "schema_fingerprint": run.schema_fingerprint(),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist() if hasattr(value, "tolist") else value
        if isinstance(value, list):
            return [_plain(v) for v in value]
    return _json_value(value)


def create_app(run: RunFolder | str | Path | None, source: str, token: str, schema: str | None = None,
               max_body: int = MAX_BODY_BYTES, refresh_s: float = 30.0, ask_time_limit_s: float = ASK_TIME_LIMIT_S) -> Any:
    """The ASGI app serving ``run`` (a :class:`~relgraph.runs.api.Run`, e.g. ``relgraph.load(dir)``,
    or its folder; None: ``/ask`` only) on ``source`` with bearer ``token``."""
    loaded = None if run is None else LoadedRun.of(run if isinstance(run, RunFolder) else load(run))
    service = Service(loaded, LiveDatabase(loaded, source, schema, refresh_s), ask_time_limit_s)
    about = (f"Predictions and explanations of the relgraph run {loaded.run_dir.name} ({loaded.kind}, {loaded.task_type}), "
             "and answers to any predictive query (/ask)" if loaded is not None
             else f"Answers to predictive queries on {source} (/ask)")
    app = FastAPI(title="relgraph", version="0.1.0", description=f"{about}. Send Authorization: Bearer <token>.")
    app.state.service = service

    def served() -> LoadedRun:
        if loaded is None:
            raise _NoRun("this service was started without --model: it answers POST /ask only")
        return loaded

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return _error(422, "the body is not valid JSON")
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body") or "body"
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    # Each relgraph error is one line with its status (the most specific class first).
    statuses = [(_NoRun, 404), (AskTimeoutError, 504), (UnknownIdError, 404), (QueryError, 400),
                (ModelError, 409), (RelgraphError, 400)]

    def _one_line(status: int) -> Any:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return _error(status, str(exc))

        return handler

    for error_class, status in statuses:
        app.add_exception_handler(error_class, _one_line(status))

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness (no token needed)."""
        return {"status": "ok"}

    @app.get("/model")
    def model() -> dict[str, Any]:
        """Task, query, metrics, trained-at and schema fingerprint of the served run."""
        served()
        return service.model_info()

    @app.get("/report", response_class=HTMLResponse)
    def report() -> HTMLResponse:
        """The run's report.html."""
        path = served().run_dir / "report.html"
        if not path.exists():
            return _error(404, "the run has no report.html")  # type: ignore[return-value]
        return HTMLResponse(path.read_text(encoding="utf-8"))

    @app.post("/predict")
    def predict(body: PredictRequest) -> dict[str, Any]:
        """Predictions for ``ids`` at ``at`` (default: the latest time in the database)."""
        served()
        return service.predict(list(body.ids), body.at)

    @app.post("/explain")
    def explain(body: ExplainRequest) -> dict[str, Any]:
        """Explanations (tables, rows, features) for ``ids`` at ``at``."""
        served()
        return service.explain(list(body.ids), body.at)

    @app.post("/ask")
    def ask_query(body: AskRequest) -> dict[str, Any]:
        """Answer a predictive query now: predictions with a backtest and the context used (``relgraph ask``)."""
        return service.ask(body)

    return _Guard(app, token, max_body)
