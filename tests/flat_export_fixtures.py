"""Two tiny flat exports (one file each, no table for the things their columns name):

- a git history export, ``commits.csv`` keyed by ``sha``, where authors exist only as
  ``author_email`` (with ``author_name`` repeated on each of their commits);
- order lines of a shop, ``order_lines.csv``, repeating each customer's, product's and
  employee's attributes on every line (``unit_price`` changes once for one product, and one
  customer moves to another ``segment``: those vary within their entity and stay on the rows).

Both are generated from a fixed seed, so tests see the same rows every time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

AUTHORS = [f"dev{i}@example.org" for i in range(12)]


def git_history(seed: int = 0) -> pd.DataFrame:
    """~300 commits by 12 authors over 2023, some of whom stop committing, others start late."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2023-01-01")
    for i, email in enumerate(AUTHORS):
        first = int(rng.integers(0, 150))
        last = int(rng.integers(first + 60, 365))
        days = np.sort(rng.integers(first, last, size=int(rng.integers(8, 40))))
        for day in days:
            rows.append(
                {
                    "author_email": email,
                    "author_name": f"Developer {i}",
                    "committed_at": start + pd.Timedelta(days=int(day), seconds=int(rng.integers(0, 86400))),
                    "files_changed": int(rng.integers(1, 40)),
                    "churn_score": round(float(rng.random()) * 10, 3),
                    "is_merge": bool(rng.random() < 0.1),
                    "branch": ["main", "dev"][int(rng.random() < 0.3)],
                    "message": f"fix {rng.integers(0, 10**6)} in the parser of module {rng.integers(0, 10**6)} after review",
                }
            )
    frame = pd.DataFrame(rows).sort_values("committed_at").reset_index(drop=True)
    # a review ticket per commit, shared by a few consecutive commits: nearly unique
    frame["ticket"] = [f"T-{i - 1 if i % 20 == 0 and i else i}" for i in range(len(frame))]
    frame.insert(0, "sha", [f"{abs(hash((seed, i))) % 16**12:012x}{i:04d}" for i in range(len(frame))])
    return frame


def write_git_history(folder: Path, seed: int = 0) -> Path:
    """``folder/commits.csv`` and ``folder/file_changes.csv`` (``git log --numstat``: sha, path,
    lines added) (created); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    commits = git_history(seed)
    commits.to_csv(folder / "commits.csv", index=False)
    rng = np.random.default_rng(seed + 1)
    changes = [
        {"sha": sha, "path": f"src/module_{int(rng.integers(0, 15))}.py", "lines_added": int(rng.integers(0, 200))}
        for sha, files in zip(commits["sha"], commits["files_changed"])
        for _ in range(min(int(files), 3))
    ]
    pd.DataFrame(changes).to_csv(folder / "file_changes.csv", index=False)
    return folder


CUSTOMERS = {
    101: ("Ada Lovelace", "UK"),
    102: ("Grace Hopper", "US"),
    103: ("Alan Turing", "UK"),
    104: ("Edsger Dijkstra", "NL"),
    105: ("Barbara Liskov", "US"),
    106: ("Donald Knuth", "US"),
}
PRODUCTS = {1: ("Keyboard", "input", 30.0), 2: ("Mouse", "input", 15.0), 3: ("Monitor", "display", 200.0),
            4: ("Cable", "misc", 5.0), 5: ("Lamp", "misc", 25.0)}
EMPLOYEES = {7: "Kim", 8: "Lee", 9: "Sam"}


def order_lines(seed: int = 0) -> pd.DataFrame:
    """~120 lines of ~45 orders in 2023; the keyboard costs 35.0 from July on, customer 101 turns ``gold`` in June."""
    rng = np.random.default_rng(seed)
    rows = []
    customers = list(CUSTOMERS)
    for order_id in range(1000, 1045):
        customer = customers[order_id % len(customers)]
        employee = list(EMPLOYEES)[int(rng.integers(0, len(EMPLOYEES)))]
        at = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int((order_id - 1000) * 8 + rng.integers(0, 5)))
        for product in rng.choice(list(PRODUCTS), size=int(rng.integers(1, 5)), replace=False):
            name, category, price = PRODUCTS[int(product)]
            if product == 1 and at >= pd.Timestamp("2023-07-01"):
                price = 35.0
            segment = "gold" if customer == 101 and at >= pd.Timestamp("2023-06-01") else "standard"
            rows.append(
                {
                    "order_id": order_id,
                    "ordered_at": at,
                    "customer_id": customer,
                    "customer_name": CUSTOMERS[customer][0],
                    "customer_country": CUSTOMERS[customer][1],
                    "segment": segment,
                    "product_id": int(product),
                    "product_name": name,
                    "product_category": category,
                    "unit_price": price,
                    "employee_id": employee,
                    "employee_name": EMPLOYEES[employee],
                    "quantity": int(rng.integers(1, 6)),
                }
            )
    frame = pd.DataFrame(rows)
    frame.insert(0, "line_id", range(50_001, 50_001 + len(frame)))
    return frame


def write_order_lines(folder: Path, seed: int = 0) -> Path:
    """``folder/order_lines.csv`` (created); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    order_lines(seed).to_csv(folder / "order_lines.csv", index=False)
    return folder
