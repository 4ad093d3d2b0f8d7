"""``relgraph serve`` end to end: a real server process on loopback, a client over HTTP."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from conftest import TOKEN, Server

from relgraph.runs.explain import load_run
from relgraph.serve.auth import authorized, resolve_token

AT = "2024-06-01"


def _ids(server: Server, n: int = 40, at: str = AT) -> list[int]:
    """Customers who exist at ``at``."""
    with sqlite3.connect(server.db_path) as con:
        rows = con.execute("SELECT customer_id FROM customers WHERE signup_at <= ? ORDER BY customer_id LIMIT ?", (at, n))
        return [r[0] for r in rows]


def test_health_is_open_and_everything_else_needs_the_token(server: Server) -> None:
    with server.client(token=None) as anon:
        assert anon.get("/health").json() == {"status": "ok"}
        for method, path in (("GET", "/model"), ("GET", "/report"), ("GET", "/openapi.json"), ("GET", "/docs"),
                             ("POST", "/predict"), ("POST", "/explain")):
            r = anon.request(method, path, json={"ids": [1]} if method == "POST" else None)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    with server.client(token="wrong-" + TOKEN) as bad:
        assert bad.get("/model").status_code == 401
    with server.client() as c:
        info = c.get("/model").json()
        assert info["model"] == "blend" and info["task_type"] == "binary" and "PREDICT" in info["query"]
        assert info["metrics"]["test"]["auroc"] > 0 and info["trained_at"] and len(info["schema_fingerprint"]) == 16
        assert "<html" in c.get("/report").text.lower()
        assert "/predict" in c.get("/openapi.json").json()["paths"]
        assert c.get("/docs").status_code == 200 and "swagger" in c.get("/docs").text.lower()


def test_predict_matches_the_run_predict_path(server: Server) -> None:
    with server.client() as c:
        r = c.post("/predict", json={"ids": _ids(server), "at": AT})
    assert r.status_code == 200
    body = r.json()
    ids = [p["id"] for p in body["predictions"]]
    run = load_run(server.run_dir)
    expected = run.predict_ids(run.connect(f"sqlite:///{server.db_path}"), ids, pd.Timestamp(AT))
    assert [p["probability"] for p in body["predictions"]] == pytest.approx(expected["probability"].tolist())
    assert body["at"] == pd.Timestamp(AT).isoformat()


def test_explain_over_http(server: Server) -> None:
    ids = _ids(server, 1)
    with server.client() as c:
        r = c.post("/explain", json={"ids": ids, "at": AT})
    assert r.status_code == 200
    exp = r.json()["explanations"][0]
    assert exp["entity"]["id"] == ids[0] and exp["tables"] and exp["rows"] and exp["summary"]


@pytest.mark.parametrize(("body", "status"), [
    ({"ids": []}, 422),
    ({"ids": [99999999]}, 404),
    ({"ids": [3], "at": "2021-02-01"}, 400),  # customer 3 signed up later
    ({"ids": ["not-a-number"]}, 400),
    ({"ids": [1], "at": "garbage"}, 400),
    ({"ids": [1], "at": "1800-01-01"}, 400),
    ({"ids": [1], "at": "2999-01-01"}, 400),
    ({"idz": [1]}, 422),
    ({"ids": 1}, 422),
    ({"ids": [[1]]}, 422),
    ([1, 2], 422),
    ({"ids": list(range(1001))}, 422),
])
def test_bad_input_gets_a_one_line_4xx_and_changes_nothing(server: Server, body: object, status: int) -> None:
    before = hashlib.sha256(server.db_path.read_bytes()).hexdigest()
    with server.client() as c:
        r = c.post("/predict", json=body)
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert message and "\n" not in message
    assert hashlib.sha256(server.db_path.read_bytes()).hexdigest() == before


def test_malformed_and_oversized_bodies(server: Server) -> None:
    with server.client() as c:
        headers = {"Content-Type": "application/json"}
        assert c.post("/predict", content=b"{not json", headers=headers).status_code == 422
        assert c.post("/predict", content=b'{"ids": [1]}', headers={"Content-Type": "text/plain"}).status_code == 415
        assert c.post("/predict", content=b" " * (65 * 1024), headers=headers).status_code == 413
        # A streamed body (chunked, no Content-Length) could be of any size: refused before reading.
        for path in ("/predict", "/explain"):
            r = c.post(path, content=iter([b'{"ids": [1]}']), headers=headers)
            assert r.status_code == 411 and "Content-Length" in r.json()["error"]
        assert c.post("/explain", json={"ids": list(range(11))}).status_code == 422


def test_concurrent_clients(server: Server) -> None:
    ids = _ids(server, 5)

    def client(i: int) -> list[int]:
        with server.client() as c:
            return [c.post("/predict", json={"ids": [ids[(i + j) % len(ids)]], "at": AT}).status_code for j in range(4)]

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = [code for codes in pool.map(client, range(10)) for code in codes]
    assert codes == [200] * 40


def test_live_rows_count_at_once_and_rows_after_at_never(server: Server) -> None:
    """Rows added after training move the prediction at the latest time, never one at an earlier ``at``."""
    with server.client() as c:
        before = c.post("/predict", json={"ids": _ids(server, 60, "2030-01-01")}).json()
        at0 = before["at"]
        picked = before["predictions"][0]["id"]
        pinned = c.post("/predict", json={"ids": [picked], "at": at0}).json()["predictions"][0]
        with sqlite3.connect(server.db_path) as con:  # the test's own copy of the database
            next_id = con.execute("SELECT MAX(order_id) FROM orders").fetchone()[0] + 1
            start = pd.Timestamp(at0) + pd.Timedelta(days=1)
            rows = [(next_id + i, picked, str(start + pd.Timedelta(hours=6 * i)), "web") for i in range(8)]
            con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", rows)
        after = c.post("/predict", json={"ids": [picked]}).json()
        assert pd.Timestamp(after["at"]) > pd.Timestamp(at0)  # the new rows are seen: the latest time moved
        assert after["predictions"][0]["probability"] != pytest.approx(pinned["probability"], abs=1e-9)
        again = c.post("/predict", json={"ids": [picked], "at": at0}).json()["predictions"][0]
        assert again["probability"] == pytest.approx(pinned["probability"], abs=1e-12)  # rows after at never count
        exp = c.post("/explain", json={"ids": [picked], "at": at0}).json()["explanations"][0]
        assert all(r["time"] is None or pd.Timestamp(r["time"]) <= pd.Timestamp(at0) for r in exp["rows"])


def test_a_database_whose_schema_changed_gets_409(server: Server) -> None:
    """Runs last in this module: it changes the server's database for good."""
    with sqlite3.connect(server.db_path) as con:
        con.execute("ALTER TABLE orders ADD COLUMN coupon TEXT")
    with server.client() as c:
        r = c.post("/predict", json={"ids": [1]})
    assert r.status_code == 409 and "coupon" in r.json()["error"]


def test_token_from_env_file_or_generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELGRAPH_TOKEN", raising=False)
    path = tmp_path / "token"
    token, generated = resolve_token(path)
    assert generated and path.read_text().strip() == token and (path.stat().st_mode & 0o777) == 0o600
    assert resolve_token(path) == (token, False)
    monkeypatch.setenv("RELGRAPH_TOKEN", "y" * 20)
    assert resolve_token(path) == ("y" * 20, False)
    assert authorized(f"Bearer {token}", token) and not authorized(f"Bearer {token}x", token)
    assert not authorized(token, token) and not authorized(None, token)
    assert json.dumps(token)  # printable
