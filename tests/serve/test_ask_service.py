"""``POST /ask`` of ``relgraph serve`` started without a run, over HTTP: answers, token, bad queries,
bounded size and time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TOKEN, Server, start_server, stop_server
from starlette.testclient import TestClient

from relgraph.demo.generate import make_demo_database
from relgraph.serve import create_app
from relgraph.serve.app import MAX_QUERY_CHARS

CHURN = "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_database(tmp_path_factory.mktemp("ask-serve") / "demo.db", seed=0, scale=0.02)


@pytest.fixture(scope="module")
def ask_server(db_path: Path) -> Iterator[Server]:
    srv = start_server(db_path, None, db_path.parent / "serve.log")
    yield srv
    stop_server(srv)


def test_ask_answers_with_backtest_context_and_evidence(ask_server: Server) -> None:
    with ask_server.client() as client:
        reply = client.post("/ask", json={"query": CHURN, "top": 3, "explain": True, "at": "2024-06-01"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert len(body["predictions"]) == 3 and body["at"] == "2024-06-01T00:00:00"
    assert body["backtest"]["metric"] == "auroc" and body["backtest"]["at"] <= "2024-05-02T00:00:00"
    assert body["context"]["rows"] > 0 and body["context"]["to"] <= "2024-05-02T00:00:00"  # labels known by at
    assert len(body["evidence"]) == 3 and body["evidence"][0]["summary"]


def test_ask_for_ids(ask_server: Server) -> None:
    with ask_server.client() as client:
        reply = client.post("/ask", json={"query": CHURN, "ids": [2, 1], "backtest": False})
    assert reply.status_code == 200, reply.text
    assert [p["customer_id"] for p in reply.json()["predictions"]] == [2, 1]


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"query": "PREDICT COUNT(orders.*, 0, 30, days FOR EACH customers.customer_id"}, 400, "PQL syntax"),
    ({"query": "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH customers.nope"}, 400, "nope"),
    ({"query": "SELECT 1; DROP TABLE customers"}, 400, "unexpected character ';'"),
    ({"query": CHURN, "ids": [123456789]}, 404, "unknown id 123456789"),
    ({"query": CHURN, "top": 0}, 422, "top"),
    ({"query": "P" * (MAX_QUERY_CHARS + 1)}, 422, "query"),
    ({"query": CHURN, "sql": "x"}, 422, "sql"),
])
def test_bad_requests_get_one_line(ask_server: Server, body: dict, status: int, message: str) -> None:
    with ask_server.client() as client:
        reply = client.post("/ask", json=body)
    assert reply.status_code == status, reply.text
    assert message in reply.json()["error"] and "\n" not in reply.json()["error"]


def test_token_and_run_endpoints(ask_server: Server) -> None:
    with ask_server.client(token=None) as client:
        assert client.post("/ask", json={"query": CHURN}).status_code == 401
    with ask_server.client(token="wrong-" + "y" * 30) as client:
        assert client.post("/ask", json={"query": CHURN}).status_code == 401
    with ask_server.client() as client:
        reply = client.post("/predict", json={"ids": [1]})
        assert reply.status_code == 404 and "started without --model" in reply.json()["error"]


def test_an_answer_past_its_time_limit_is_a_504(db_path: Path) -> None:
    app = create_app(None, f"sqlite:///{db_path}", TOKEN, ask_time_limit_s=0.0)
    with TestClient(app) as client:
        reply = client.post("/ask", json={"query": CHURN, "top": 1, "backtest": False},
                            headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 504
    assert reply.json()["error"].startswith("the answer took longer than its 0 s limit")
