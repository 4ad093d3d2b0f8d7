"""The web workspace in process (starlette's TestClient over the real app on a tiny demo database):
the token rule, every table and edge in the schema graph, live query checks placed at line and
column, the task summary, bad input as a message in the page, run folders, and that nothing writes
to the database. The browser test (test_workspace_browser.py) drives the same app in Chromium."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from relgraph.serve.workspace import OneTimeLinks, create_workspace
from relgraph.serve.workspace.auth import mount_workspace
from relgraph.serve.workspace.jobs import new_run_dir
from relgraph.serve.workspace.query_view import locate
from relgraph.serve.workspace.schema_view import graph_edges, table_layers, table_role

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))
from demo_runs import CHURN, demo_db  # noqa: E402

TOKEN = "workspace-token-" + "y" * 20
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_db(tmp_path_factory.mktemp("workspace"))


@pytest.fixture(scope="module")
def links() -> OneTimeLinks:
    return OneTimeLinks()


@pytest.fixture(scope="module")
def client(db_path: Path, links: OneTimeLinks, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    app = create_workspace(f"sqlite:///{db_path}", tmp_path_factory.mktemp("runs"), TOKEN, links=links)
    return TestClient(app)


def test_every_page_needs_the_token(client: TestClient, links: OneTimeLinks) -> None:
    for path in ("/schema", "/query", "/answers", "/runs", "/schema/file", "/runs/jobs"):
        assert client.get(path).status_code == 401, path
    assert client.post("/query/check", data={"pql": CHURN}).status_code == 401
    assert client.get("/schema", headers={"Authorization": "Bearer wrong-token-xxxxxxxxxxxx"}).status_code == 401
    assert client.get("/schema", headers=AUTH).status_code == 200
    assert client.post("/login", data={"token": "nope"}).status_code == 401
    code = links.new()
    signed = TestClient(client.app)
    first = signed.get(f"/login?once={code}", follow_redirects=False)
    assert first.status_code == 303 and "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    assert signed.get("/schema").status_code == 200  # the cookie carries the token now
    again = TestClient(client.app).get(f"/login?once={code}", follow_redirects=False)
    assert again.status_code == 200 and "used or has expired" in again.text  # a link works once
    assert client.get("/health").status_code == 200


def test_schema_graph_has_every_table_and_edge(client: TestClient) -> None:
    app = client.app.app  # type: ignore[attr-defined]
    schema = app.state.workspace.db.schema
    page = client.get("/schema", headers=AUTH).text
    assert sorted(re.findall(r'<g class="table" data-table="([^"]+)"', page)) == sorted(schema.table_names)
    edges = re.findall(r'<g class="edge" data-edge="([^"]+)"', page)
    assert sorted(e.replace("-&gt;", "->") for e in edges) == sorted(f"{c}.{col}->{p}" for c, col, p in graph_edges(schema))
    assert {table_role(schema, t) for t in schema.table_names} >= {"entity", "event", "static"}
    assert "semantic type" in page and "row time" in page
    download = client.get("/schema/file", headers=AUTH)
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert set(tomllib.loads(download.text)["tables"]) == set(schema.table_names)


def test_query_check_places_errors(client: TestClient) -> None:
    typo = CHURN.replace("customers.customer_id", "customers.customer_idd")
    page = client.post("/query/check", data={"pql": typo}, headers=AUTH).text
    column = typo.index("customer_idd") + 1
    assert f'data-line="1" data-column="{column}"' in page and "did you mean customer_id" in page
    syntax = "PREDICT COUNT(orders.*, 0, 30 days) = 0\nFOR EACH customers.customer_id"
    page = client.post("/query/check", data={"pql": syntax}, headers=AUTH).text
    assert 'data-line="1" data-column="31"' in page
    two_lines = "PREDICT COUNT(orders.*, 0, 30, days) = 0\nFOR EACH customerz.customer_id"
    assert locate(two_lines, "unknown table 'customerz': did you mean customers?") == (2, 10)
    ok = client.post("/query/check", data={"pql": CHURN}, headers=AUTH).text
    assert 'id="query-ok"' in ok and "binary" in ok


def test_query_build_shows_splits_plot_and_sql(client: TestClient) -> None:
    page = client.post("/query/build", data={"pql": CHURN}, headers=AUTH).text
    assert 'id="splits"' in page and all(f"<td>{s}</td>" in page for s in ("train", "val", "test"))
    assert "data:image/png;base64" in page and "SELECT" in page.upper()


@pytest.mark.parametrize("path,fields", [
    ("/query/build", {"pql": "PREDICT nonsense"}),
    ("/runs/start", {"pql": "PREDICT COUNT(nope.*, 0, 30, days) > 0 FOR EACH customers.customer_id"}),
    ("/runs/start", {"pql": CHURN, "model": "forest"}),
    ("/runs/start", {"pql": CHURN, "epochs": "-1"}),
    ("/runs/../etc/explain", {"id": "1"}),
    ("/runs/missing/explain", {"id": "1"}),
    ("/answers/ask", {"pql": ""}),
])
def test_bad_input_is_a_message(client: TestClient, path: str, fields: dict[str, str]) -> None:
    response = client.post(path, data=fields, headers=AUTH)
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert 'class="error"' in response.text and "Traceback" not in response.text


def test_answers_show_predictions_backtest_and_evidence(client: TestClient) -> None:
    page = client.post("/answers/ask", data={"pql": CHURN}, headers=AUTH).text
    assert 'id="predictions"' in page and "vs trivial" in page and "Traceback" not in page
    first = re.search(r'<table id="predictions">.*?</tr>\s*<tr><td>([^<]+)</td>', page, re.S).group(1)
    page = client.post("/answers/ask", data={"pql": CHURN, "id": first}, headers=AUTH).text
    assert 'id="evidence"' in page and "by table" in page
    unknown = client.post("/answers/ask", data={"pql": CHURN, "id": "999999"}, headers=AUTH).text
    assert 'class="error"' in unknown


def test_run_folders_are_new_and_listed(client: TestClient, tmp_path: Path) -> None:
    made = {new_run_dir(tmp_path, "gnn") for _ in range(5)}
    assert len(made) == 5 and all(p.is_dir() for p in made)
    assert "No run folders yet" in client.get("/runs", headers=AUTH).text


def test_a_run_starts_in_its_own_folder_and_cancels(client: TestClient) -> None:
    jobs = client.app.app.state.workspace.jobs  # type: ignore[attr-defined]
    page = client.post("/runs/start", data={"pql": CHURN, "model": "lightgbm"}, headers=AUTH).text
    job = jobs.listed()[0]
    assert f'data-job="{job.id}"' in page and job.state == "running" and job.out_dir.is_dir()
    assert job.command[job.command.index("--out") + 1] == str(job.out_dir)
    page = client.post(f"/runs/jobs/{job.id}/cancel", headers=AUTH).text
    assert job.state == "cancelled" and job.process is not None and job.process.poll() is not None
    assert "cancelled" in page
    assert "no training job" in client.post("/runs/jobs/nope/cancel", headers=AUTH).text


def test_serve_ui_mounts_the_workspace_under_ui(client: TestClient) -> None:
    async def api(scope: dict, receive: object, send: object) -> None:
        await JSONResponse({"api": scope["path"]})(scope, receive, send)  # type: ignore[arg-type]

    api.app = None  # type: ignore[attr-defined]  # as the serve app's guard carries its FastAPI app
    both = TestClient(mount_workspace(api, client.app))
    page = both.get("/ui/query", headers=AUTH)
    assert page.status_code == 200 and 'hx-post="/ui/query/check"' in page.text and 'href="/ui/static/' in page.text
    assert both.get("/ui/schema").status_code == 401
    assert both.get("/ui/static/htmx.min.js").status_code == 200
    assert both.get("/predict").json() == {"api": "/predict"}


def test_nothing_writes_to_the_database(client: TestClient, db_path: Path) -> None:
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    client.get("/schema", headers=AUTH)
    client.post("/query/build", data={"pql": CHURN}, headers=AUTH)
    client.post("/query/check", data={"pql": CHURN}, headers=AUTH)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20))
def test_layers_put_every_table_below_its_parents(pairs: list[tuple[int, int]]) -> None:
    names = [f"t{i}" for i in range(8)]
    # Child index above parent index: a reference graph without cycles, as most schemas are.
    edges = [(f"t{max(a, b)}", "fk", f"t{min(a, b)}") for a, b in pairs if a != b]
    layers = table_layers(names, edges)
    row = {name: i for i, layer in enumerate(layers) for name in layer}
    assert sorted(row) == names
    assert all(row[child] > row[parent] for child, _, parent in edges)
    with_cycle = table_layers(names, [*edges, ("t0", "fk", "t7"), ("t3", "self", "t3")])  # cycles and self references end
    assert sorted(n for layer in with_cycle for n in layer) == names


def test_assets_ship_in_the_wheel() -> None:
    """Every template and static file is package data (the page needs no CDN and works offline)."""
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["relgraph.serve.workspace"]
    folder = Path(create_workspace.__code__.co_filename).parent
    assets = {p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}
    assert assets and all(any(a.match(pattern) for pattern in patterns) for a in assets)
    page = (folder / "templates" / "base.html").read_text()
    assert "static/htmx.min.js" in page and "http" not in page  # nothing fetched from elsewhere
