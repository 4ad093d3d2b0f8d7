from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))
from demo_runs import CHURN, demo_db, train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-token-" + "x" * 24


@dataclass
class Server:
    url: str
    db_path: Path
    run_dir: Path | None
    process: subprocess.Popen

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_path: Path, run_dir: Path | None, log: Path, *options: str) -> Server:
    """``relgraph serve`` in its own process on a free loopback port, once /health answers
    (``run_dir`` None: a service answering /ask only)."""
    port = free_port()
    env = dict(os.environ, RELGRAPH_TOKEN=TOKEN, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "relgraph.cli.main", "serve", f"sqlite:///{db_path}",
         *(["--model", str(run_dir)] if run_dir is not None else []), "--port", str(port), *options], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(log.parent))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"relgraph serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return Server(url, db_path, run_dir, process)
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("relgraph serve did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on its own copy of a tiny demo shop (tests add rows to the copy), blend model."""
    folder = tmp_path_factory.mktemp("serve")
    original = demo_db(folder)
    run_dir = train(original, folder / "run", CHURN, "blend")
    live = folder / "live.db"
    shutil.copy(original, live)
    srv = start_server(live, run_dir, folder / "serve.log")
    yield srv
    stop_server(srv)


def stop_server(srv: Server) -> None:
    """Stop a service started by :func:`start_server` (killed if it does not stop in 20 s)."""
    srv.process.terminate()
    try:
        srv.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        srv.process.kill()
