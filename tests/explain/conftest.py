from __future__ import annotations

from pathlib import Path

import pytest
from demo_runs import CHURN, RANK, demo_db, train


@pytest.fixture(scope="session")
def shop_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_db(tmp_path_factory.mktemp("explain_shop"))


@pytest.fixture(scope="session")
def blend_run(shop_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(shop_db_path, tmp_path_factory.mktemp("blend_run"), CHURN, "blend")


@pytest.fixture(scope="session")
def rank_run(shop_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(shop_db_path, tmp_path_factory.mktemp("rank_run"), RANK, "auto")
