"""Shared fixtures: the real datasets in ``../shared/datasets`` and scratch PostgreSQL / MariaDB schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``<repo>/../shared/datasets`` (f1/, rel-f1/, stack-bicycles-meta/); skips the test when absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS.resolve()
