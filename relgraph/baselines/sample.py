"""Training rows of the tabular models: all of them, or a seeded uniform sample past a cap.

Their features are a dense matrix in memory (rows x a few hundred float64 columns: ~2.3 GiB per
million rows at the demo's 290 features), and boosting gains little from millions more rows of the
same task, so past ``MAX_TRAIN_ROWS`` they fit on a sample, as RelBench's LightGBM scripts do (with
50,000 rows by default). 500,000 keeps a 10M-row database's run within half an hour on 2 cores
(benchmarks/README.md, #25 session 15).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from relgraph.errors import QueryError

logger = logging.getLogger(__name__)

#: Training rows the tabular models use at most by default (``None`` in their ``max_train_rows``: all).
MAX_TRAIN_ROWS = 500_000


def training_sample(train: pd.DataFrame, max_rows: int | None, seed: int = 0) -> pd.DataFrame:
    """``train`` itself when it has at most ``max_rows`` rows (or ``max_rows`` is None), else
    ``max_rows`` of its rows drawn uniformly with ``seed``, in their original order and index."""
    if max_rows is None or len(train) <= max_rows:
        return train
    if max_rows < 1:
        raise QueryError(f"max_train_rows is {max_rows}; use a positive number of rows, or None for all")
    keep = np.sort(np.random.default_rng(seed).choice(len(train), max_rows, replace=False))
    logger.warning("the tabular models train on a %s-row sample of the %s training rows (max_train_rows)",
                   f"{max_rows:,}", f"{len(train):,}")
    return train.iloc[keep]
