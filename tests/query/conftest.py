"""Query-test fixtures: the shop database and the rel-f1 / f1 databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from query_fixtures import SHOP_FKS, SHOP_KEYS, SHOP_TIMES, make_db, shop_tables

import relgraph
from relgraph.database import Database


@pytest.fixture(scope="session")
def rel_f1_dir(shared_datasets: Path) -> Path:
    path = shared_datasets / "rel-f1"
    if not (path / "db").is_dir():
        pytest.skip("rel-f1 not found")
    return path


@pytest.fixture(scope="session")
def rel_f1(rel_f1_dir: Path) -> Database:
    return relgraph.connect(rel_f1_dir / "db")


@pytest.fixture(scope="session")
def f1(shared_datasets: Path) -> Database:
    return relgraph.connect(shared_datasets / "f1")


@pytest.fixture()
def shop() -> Database:
    return make_db(shop_tables(), SHOP_KEYS, SHOP_FKS, SHOP_TIMES)
