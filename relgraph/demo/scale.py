"""The demo shop at scale: a deterministic Parquet generator for a given number of event rows.

Same tables, columns and keys as :mod:`relgraph.demo.generate` (``categories``, ``products``,
``customers``, ``orders``, ``order_items``, ``reviews``, ``support_tickets``), so the demo's churn
query runs on it, but drawn per chunk instead of simulated week by week: each event table is
written chunk by chunk (``CHUNK`` rows, one Parquet row group each) with a generator seeded by
``(seed, table, chunk)``, so memory stays at one chunk plus the per-customer arrays
(``rows / 40`` customers) whatever the size, and the same ``rows`` and ``seed`` give the same files.

Event rows (``rows``) split into orders 35 %, order items 50 %, reviews 10 %, support tickets 5 %.
Churn signal: each customer is active from sign-up until a churn time drawn from a hazard that
rises with their support tickets' rate (unhappy customers leave sooner) and orders only while active.

    python -m relgraph.demo.scale 10M out/shop_10m
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from relgraph.demo.generate import (
    AGE_BANDS,
    BRANDS,
    CATEGORIES,
    CHANNELS,
    NOUNS,
    REGIONS,
    REVIEW_CLOSINGS,
    REVIEW_OPENINGS,
    START,
    TICKET_TEXT,
    TOPICS,
    WEEK,
    WEEKS,
)

#: Rows per chunk (and Parquet row group) of the event tables.
CHUNK = 1_000_000
SHARES = {"orders": 0.35, "order_items": 0.50, "reviews": 0.10, "support_tickets": 0.05}
_TABLE_IDS = {name: i for i, name in enumerate(("customers", "products", *SHARES))}
_START = int(START.astype(np.int64))
_END = _START + WEEKS * WEEK


def parse_rows(text: str) -> int:
    """``1M`` / ``10m`` / ``50_000_000`` / ``250k`` -> int."""
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def table_sizes(rows: int) -> dict[str, int]:
    """Rows per table for ``rows`` event rows."""
    sizes = {name: int(rows * share) for name, share in SHARES.items()}
    sizes["order_items"] += rows - sum(sizes.values())
    sizes["customers"] = max(100, rows // 40)
    sizes["products"] = max(50, rows // 2_000)
    sizes["categories"] = len(CATEGORIES)
    return sizes


def _rng(seed: int, table: str, chunk: int) -> np.random.Generator:
    return np.random.default_rng([seed, _TABLE_IDS[table], chunk])


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype(np.int64), type=pa.timestamp("s"))


def _pool(rng: np.random.Generator, size: int, parts: list[list[str]]) -> pa.Array:
    """``size`` distinct-ish strings, each one option of every part joined: rows pick from this pool."""
    pieces = [np.asarray(p, dtype=object)[rng.integers(0, len(p), size)] for p in parts]
    out = pieces[0]
    for piece in pieces[1:]:
        out = out + piece
    return pa.array(out.tolist(), type=pa.string())


class _Writer:
    def __init__(self, path: Path) -> None:
        self.path, self.writer = path, None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table, row_group_size=len(table))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def make_scale_database(folder: str | Path, rows: int, seed: int = 0, chunk: int = CHUNK) -> Path:
    """Write the shop with ``rows`` event rows as one Parquet file per table into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = table_sizes(rows)
    n_cust, n_prod = sizes["customers"], sizes["products"]

    # Per-customer state (kept in memory: rows / 40 entries).
    rng = _rng(seed, "customers", 0)
    signup = _START + (rng.random(n_cust) ** 1.5 * (_END - _START) * 0.85).astype(np.int64)
    unhappy = rng.random(n_cust)  # drives tickets and churn
    activity = rng.lognormal(0.0, 0.6, n_cust)
    lifetime = rng.exponential(200 * 86_400 / (0.3 + 1.4 * unhappy))
    churn = np.minimum(signup + lifetime.astype(np.int64) + 14 * 86_400, _END)
    active_span = np.maximum(churn - signup, 86_400)
    weight = activity * active_span
    cum_weight = np.cumsum(weight / weight.sum())
    ticket_weight = np.cumsum((weight * (0.2 + unhappy)) / (weight * (0.2 + unhappy)).sum())
    pq.write_table(
        pa.table({
            "customer_id": pa.array(np.arange(1, n_cust + 1)),
            "signup_at": _ts(signup),
            "region": pa.array(np.asarray(REGIONS)[rng.integers(0, len(REGIONS), n_cust)]),
            "age_band": pa.array(np.asarray(AGE_BANDS)[rng.integers(0, len(AGE_BANDS), n_cust)]),
            "newsletter": pa.array(rng.integers(0, 2, n_cust)),
        }),
        folder / "customers.parquet",
        row_group_size=chunk,
    )
    pq.write_table(
        pa.table({
            "category_id": pa.array(np.arange(1, len(CATEGORIES) + 1)),
            "name": pa.array([c[0] for c in CATEGORIES]),
            "department": pa.array([c[1] for c in CATEGORIES]),
        }),
        folder / "categories.parquet",
    )
    rng = _rng(seed, "products", 0)
    product_cat = rng.integers(0, len(CATEGORIES), n_prod)
    brand = rng.integers(0, len(BRANDS), n_prod)
    price = np.round(rng.lognormal(3.2, 0.8, n_prod), 2)
    # the catalogue predates the simulated window, so every order / review finds its product existing
    created = _START - (rng.random(n_prod) * 365 * 86_400).astype(np.int64)
    names = (np.asarray(BRANDS, dtype=object)[brand] + " " + np.asarray(NOUNS, dtype=object)[product_cat % len(NOUNS)]
             + " " + rng.integers(100, 999, n_prod).astype(str).astype(object))
    pq.write_table(
        pa.table({
            "product_id": pa.array(np.arange(1, n_prod + 1)),
            "category_id": pa.array(product_cat + 1),
            "name": pa.array(names.tolist(), type=pa.string()),
            "brand": pa.array(np.asarray(BRANDS)[brand]),
            "price": pa.array(price),
            "created_at": _ts(created),
            "last_update": _ts(np.minimum(created + (rng.random(n_prod) * 400 * 86_400).astype(np.int64), _END)),
        }),
        folder / "products.parquet",
    )
    popularity = np.cumsum(rng.zipf(1.6, n_prod).clip(max=1000).astype(np.float64))
    popularity /= popularity[-1]

    def customer_time(r: np.random.Generator, customers: np.ndarray) -> np.ndarray:
        return signup[customers] + (r.random(len(customers)) * active_span[customers]).astype(np.int64)

    n_orders = sizes["orders"]
    # order times and customers stay in memory (12 bytes per order) so tickets can follow their order
    order_time = np.empty(n_orders, dtype=np.int64)
    order_customer = np.empty(n_orders, dtype=np.int32)
    writer = _Writer(folder / "orders.parquet")
    for k, lo in enumerate(range(0, n_orders, chunk)):
        n = min(chunk, n_orders - lo)
        r = _rng(seed, "orders", k)
        cust = np.searchsorted(cum_weight, r.random(n)).clip(max=n_cust - 1)
        order_customer[lo : lo + n] = cust
        order_time[lo : lo + n] = customer_time(r, cust)
        writer.write(pa.table({
            "order_id": pa.array(np.arange(lo + 1, lo + n + 1)),
            "customer_id": pa.array(cust + 1),
            "ordered_at": _ts(order_time[lo : lo + n]),
            "channel": pa.array(np.asarray(CHANNELS)[r.choice(len(CHANNELS), n, p=[0.5, 0.35, 0.15])]),
        }))
    writer.close()

    n_items = sizes["order_items"]
    writer = _Writer(folder / "order_items.parquet")
    for k, lo in enumerate(range(0, n_items, chunk)):
        n = min(chunk, n_items - lo)
        r = _rng(seed, "order_items", k)
        # items of chunk k belong to the orders of the matching share of the orders table
        first = int(lo * n_orders / n_items)
        last = max(first + 1, int((lo + n) * n_orders / n_items))
        product = np.searchsorted(popularity, r.random(n)).clip(max=n_prod - 1)
        writer.write(pa.table({
            "order_item_id": pa.array(np.arange(lo + 1, lo + n + 1)),
            "order_id": pa.array(r.integers(first, last, n) + 1),
            "product_id": pa.array(product + 1),
            "quantity": pa.array(1 + r.poisson(0.4, n)),
            "price": pa.array(np.round(price[product] * r.uniform(0.85, 1.05, n), 2)),
        }))
    writer.close()

    n_reviews = sizes["reviews"]
    pool_rng = _rng(seed, "reviews", 1 << 20)
    bodies = [_pool(pool_rng, 300, [REVIEW_OPENINGS[m], [", the ", ", my ", ", this "], NOUNS,
                                    [" works.", " broke.", " is fine."], REVIEW_CLOSINGS]) for m in range(3)]
    writer = _Writer(folder / "reviews.parquet")
    for k, lo in enumerate(range(0, n_reviews, chunk)):
        n = min(chunk, n_reviews - lo)
        r = _rng(seed, "reviews", k)
        cust = np.searchsorted(cum_weight, r.random(n)).clip(max=n_cust - 1)
        rating = np.clip(np.round(4.2 - 2.5 * unhappy[cust] + r.normal(0, 1, n)), 1, 5).astype(np.int64)
        mood = np.where(rating <= 2, 0, np.where(rating == 3, 1, 2))
        body = pa.concat_arrays([bodies[m] for m in range(3)]).take(pa.array(mood * 300 + r.integers(0, 300, n)))
        body = pc.if_else(pa.array(r.random(n) < 0.2), pa.scalar(None, pa.string()), body)
        writer.write(pa.table({
            "review_id": pa.array(np.arange(lo + 1, lo + n + 1)),
            "customer_id": pa.array(cust + 1),
            "product_id": pa.array(np.searchsorted(popularity, r.random(n)).clip(max=n_prod - 1) + 1),
            "rating": pa.array(rating),
            "body": body,
            "created_at": _ts(customer_time(r, cust)),
        }))
    writer.close()

    n_tickets = sizes["support_tickets"]
    pool_rng = _rng(seed, "support_tickets", 1 << 20)
    messages = [_pool(pool_rng, 100, [TICKET_TEXT[t], [", order ", ", ref "], [str(i) for i in range(10, 99)]])
                for t in TOPICS]
    writer = _Writer(folder / "support_tickets.parquet")
    for k, lo in enumerate(range(0, n_tickets, chunk)):
        n = min(chunk, n_tickets - lo)
        r = _rng(seed, "support_tickets", k)
        # 70 % about an order (its customer, a few days after it); the rest from unhappy customers
        cust = np.searchsorted(ticket_weight, r.random(n)).clip(max=n_cust - 1)
        opened = customer_time(r, cust)
        about = r.random(n) < 0.7
        order = r.integers(0, n_orders, n)
        cust = np.where(about, order_customer[order], cust)
        opened = np.where(about, order_time[order] + r.exponential(3 * 86_400, n).astype(np.int64), opened)
        opened = np.minimum(opened, _END)
        topic = r.integers(0, len(TOPICS), n)
        writer.write(pa.table({
            "ticket_id": pa.array(np.arange(lo + 1, lo + n + 1)),
            "customer_id": pa.array(cust + 1),
            "order_id": pa.array(order + 1, mask=~about),
            "opened_at": _ts(opened),
            "topic": pa.array(np.asarray(TOPICS)[topic]),
            "message": pa.concat_arrays(messages).take(pa.array(topic * 100 + r.integers(0, 100, n))),
        }))
    writer.close()
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relgraph.demo.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", help="event rows: 1M, 10M, 50M, 250k, ...")
    parser.add_argument("folder", type=Path, help="output folder (one Parquet file per table)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=CHUNK, help="rows per chunk / row group")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    make_scale_database(args.folder, parse_rows(args.rows), args.seed, args.chunk)
    print(f"wrote {args.folder} ({parse_rows(args.rows):,} event rows) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
