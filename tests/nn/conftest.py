"""One torch thread in tests: the suite shares 2 cores with other jobs, and idle OpenMP threads spin."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    torch.set_num_threads(1)
