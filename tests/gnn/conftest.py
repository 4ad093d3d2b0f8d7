"""Fixtures: the tiny in-memory shop and its churn-like task."""

from shop_task import shop, shop_db  # noqa: F401
