"""NumPy values as JSON: what every model's ``save`` writes (one place for the conversions)."""

from __future__ import annotations

from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A NumPy scalar as its Python value; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def json_strict(value: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars; anything else is an error (state must be plain)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def json_or_text(value: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars (their Python value) and anything else (its text)."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
