"""Fixtures of the baselines tests (the databases themselves are built in ``shop_fixtures``)."""

from __future__ import annotations

import pytest
from shop_fixtures import small_shop

from relgraph.database import Database


@pytest.fixture
def shop() -> Database:
    return small_shop()
