"""The workspace's routes: four views (Schema, Query, Answers, Runs) as server-rendered pages whose
parts htmx swaps in (``/query/check`` as the user types, ``/answers/ask``, ``/runs/jobs`` polled while
a run trains). Every fragment route answers 200 with a message for bad input (a :class:`RelgraphError`
becomes one line in the page; anything else a one-line notice, its trace only in the server log).
The database is opened once, read-only, and only read; models run one request at a time (one lock).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from relgraph.database import Database, connect
from relgraph.errors import RelgraphError
from relgraph.metrics import PRIMARY_METRIC
from relgraph.serve.workspace.auth import COOKIE, OneTimeLinks, WorkspaceGuard, form_fields, login_page
from relgraph.serve.workspace.jobs import MODELS, TrainJobs
from relgraph.serve.workspace.query_view import check_query, task_summary
from relgraph.serve.workspace.schema_view import schema_context

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
#: Seconds after a run ends during which job polls tell the page to reload the run folders.
JUST_ENDED_S = 10.0
#: Predictions listed on the Answers view at most.
ANSWER_ROWS = 20


class Workspace:
    """The database, the runs folder, the training jobs and the lock model calls hold."""

    def __init__(self, source: str, runs_dir: Path, schema: str | None = None) -> None:
        self.source, self.runs_dir, self.schema_file = source, Path(runs_dir), schema
        self.db: Database = connect(source, schema=schema)
        self.jobs = TrainJobs(source, self.runs_dir, schema)
        self.lock = threading.Lock()

    def run_folders(self) -> list[dict[str, Any]]:
        """Every run folder under the runs folder (newest first) with its primary metric beside the baselines'."""
        out = []
        for path in sorted(self.runs_dir.glob("*/metrics.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            try:
                metrics = json.loads(path.read_text())
                config = json.loads((path.parent / "config.json").read_text())
            except (OSError, ValueError):
                continue
            name, _ = PRIMARY_METRIC.get(metrics.get("task", ""), ("", True))
            baselines = metrics.get("baselines") or {}
            out.append({"name": path.parent.name, "model": metrics.get("model"), "task": metrics.get("task"),
                        "query": (config.get("source") or {}).get("query") or "",
                        "metric": name, "val": (metrics.get("val") or {}).get(name),
                        "test": (metrics.get("test") or {}).get(name),
                        "trivial": ((baselines.get("trivial") or {}).get("test") or {}).get(name),
                        "rule": ((baselines.get("rule") or {}).get("test") or {}).get(name),
                        "report": (path.parent / "report.html").exists()})
        return out

    def run_dir(self, name: str) -> Path:
        """A run folder by name, only directly under the runs folder."""
        path = (self.runs_dir / name).resolve()
        if path.parent != self.runs_dir.resolve() or not (path / "config.json").exists():
            raise RelgraphError(f"no run folder named {name!r} under {self.runs_dir}")
        return path


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("relgraph.serve.workspace", "templates"),
                      autoescape=select_autoescape(["html"]))
    env.filters["num"] = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))
    return env


def create_workspace(source: str, runs_dir: str | Path = "runs", token: str = "", schema: str | None = None,
                     links: OneTimeLinks | None = None) -> Any:
    """The workspace ASGI app on ``source`` (read-only) with run folders under ``runs_dir``; every page
    but the login needs ``token`` (bearer header or the cookie the login sets)."""
    if not token:
        raise RelgraphError("the workspace needs a token")
    workspace = Workspace(source, Path(runs_dir), schema)
    links = links or OneTimeLinks()
    env = _templates()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        workspace.jobs.shutdown()  # no training process outlives the workspace

    app = FastAPI(title="relgraph workspace", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.workspace, app.state.links = workspace, links
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        base = request.scope.get("root_path", "")
        return HTMLResponse(env.get_template(name).render(base=base, view=name.split(".")[0], **context))

    def fragment(request: Request, name: str, work: Callable[[], dict[str, Any]]) -> HTMLResponse:
        """Render ``name`` with what ``work`` returns; a failure is a message in the page."""
        try:
            with workspace.lock:
                context = work()
        except RelgraphError as err:
            return page(request, "message.html", error=str(err).splitlines()[0])
        except Exception as err:  # a message in the page, the trace only in the server log
            logger.exception("workspace: %s failed", request.url.path)
            return page(request, "message.html", error=f"internal error ({type(err).__name__}); see the server log")
        return page(request, name, **context)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/login")
    def login_get(request: Request, once: str = "") -> Response:
        base = request.scope.get("root_path", "")
        if once and links.redeem(once):
            return _signed_in(base, token)
        return login_page(base, "This one-time link was used or has expired." if once else "Sign in.")

    @app.post("/login")
    async def login_post(request: Request) -> Response:
        base = request.scope.get("root_path", "")
        given = form_fields(await request.body()).get("token", "").strip()
        if WorkspaceGuard(None, token).allowed({b"authorization": f"Bearer {given}".encode()}):
            return _signed_in(base, token)
        return login_page(base, "Wrong token.", 401)

    @app.get("/")
    def home(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/schema", status_code=303)

    @app.get("/schema", response_class=HTMLResponse)
    def schema_view(request: Request) -> HTMLResponse:
        return page(request, "schema.html", source=workspace.db.source,
                    **schema_context(workspace.db.schema, workspace.db.source))

    @app.get("/schema/file")
    def schema_file() -> FileResponse:
        from relgraph.schema.io import write_schema

        path = Path(tempfile.mkdtemp(prefix="relgraph-ui-")) / "schema.toml"
        write_schema(workspace.db.schema, path)
        return FileResponse(path, filename="schema.toml", media_type="application/toml")

    @app.get("/query", response_class=HTMLResponse)
    def query_view(request: Request, pql: str = "") -> HTMLResponse:
        return page(request, "query.html", pql=pql, check=check_query(workspace.db, pql) if pql else None)

    @app.post("/query/check", response_class=HTMLResponse)
    async def query_check(request: Request) -> HTMLResponse:
        text = form_fields(await request.body()).get("pql", "")
        return page(request, "check.html", check=check_query(workspace.db, text))

    @app.post("/query/build", response_class=HTMLResponse)
    async def query_build(request: Request) -> HTMLResponse:
        text = form_fields(await request.body()).get("pql", "")
        return fragment(request, "task.html", lambda: {"task": task_summary(workspace.db, text)})

    @app.get("/answers", response_class=HTMLResponse)
    def answers_view(request: Request, pql: str = "") -> HTMLResponse:
        return page(request, "answers.html", pql=pql)

    @app.post("/answers/ask", response_class=HTMLResponse)
    async def answers_ask(request: Request) -> HTMLResponse:
        from relgraph.serve.workspace.answers_view import answer

        fields = form_fields(await request.body())
        return fragment(request, "answer.html", lambda: answer(workspace.db, fields, ANSWER_ROWS))

    @app.get("/runs", response_class=HTMLResponse)
    def runs_view(request: Request, pql: str = "") -> HTMLResponse:
        return page(request, "runs.html", pql=pql, models=MODELS, jobs=workspace.jobs.listed(),
                    folders=workspace.run_folders(), runs_dir=workspace.runs_dir)

    @app.get("/runs/jobs", response_class=HTMLResponse)
    def runs_jobs(request: Request) -> HTMLResponse:
        jobs = workspace.jobs.listed()
        response = page(request, "jobs.html", jobs=jobs)
        if any(j.ended is not None and time.time() - j.ended < JUST_ENDED_S for j in jobs):
            response.headers["HX-Trigger"] = "runs-changed"  # the folder list reloads (not on every poll)
        return response

    @app.get("/runs/folders", response_class=HTMLResponse)
    def runs_folders(request: Request) -> HTMLResponse:
        return page(request, "folders.html", folders=workspace.run_folders())

    @app.post("/runs/start", response_class=HTMLResponse)
    async def runs_start(request: Request) -> HTMLResponse:
        fields = form_fields(await request.body())
        return fragment(request, "jobs.html", lambda: _start(workspace, fields))

    @app.post("/runs/jobs/{job_id}/cancel", response_class=HTMLResponse)
    def runs_cancel(request: Request, job_id: str) -> HTMLResponse:
        try:
            workspace.jobs.cancel(job_id)
        except KeyError:
            return page(request, "message.html", error=f"no training job {job_id!r}")
        return page(request, "jobs.html", jobs=workspace.jobs.listed())

    @app.get("/runs/{name}/report", response_class=HTMLResponse)
    def runs_report(request: Request, name: str) -> HTMLResponse:
        try:
            path = workspace.run_dir(name) / "report.html"
        except RelgraphError as err:
            return page(request, "message.html", error=str(err))
        if not path.exists():
            return page(request, "message.html", error=f"the run {name} has no report.html yet")
        return HTMLResponse(path.read_text(encoding="utf-8"))

    @app.post("/runs/{name}/explain", response_class=HTMLResponse)
    async def runs_explain(request: Request, name: str) -> HTMLResponse:
        fields = form_fields(await request.body())
        return fragment(request, "explanation.html", lambda: _explain(workspace, name, fields))

    return WorkspaceGuard(app, token)


def _signed_in(base: str, token: str) -> RedirectResponse:
    response = RedirectResponse(f"{base}/schema", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


def _start(workspace: Workspace, fields: dict[str, str]) -> dict[str, Any]:
    from relgraph.query import parse, validate

    text = fields.get("pql", "").strip()
    validate(parse(text), workspace.db.schema)  # a bad query is a message now, not a failed run later
    epochs = fields.get("epochs", "").strip()
    if epochs and (not epochs.isdigit() or int(epochs) < 1):
        raise RelgraphError(f"epochs {epochs!r}: give a positive whole number")
    model = fields.get("model", "auto")
    if model not in MODELS:
        raise RelgraphError(f"model {model!r}: choose one of {', '.join(MODELS)}")
    workspace.jobs.start(text, model, int(epochs) if epochs else None)
    return {"jobs": workspace.jobs.listed()}


def _explain(workspace: Workspace, name: str, fields: dict[str, str]) -> dict[str, Any]:
    from relgraph.runs.explain import explain

    entity = fields.get("id", "").strip()
    if not entity:
        raise RelgraphError("give the id of the entity to explain")
    run_dir = workspace.run_dir(name)
    key: Any = int(entity) if entity.lstrip("-").isdigit() else entity
    found = explain(run_dir, workspace.db, [key], fields.get("at", "").strip() or None)
    return {"run": name, "explanation": found[0]}
