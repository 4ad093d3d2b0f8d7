"""A DVD-rental shop whose activity has a gap: rentals every day for four months (2005-01-01 ..
2005-04-30), none for six, then one final day of rentals (2005-11-01, a late batch). Customers
rent at their own pace (every 3 to 60 days on average), so a 30-day churn label has both classes
wherever the shop is active."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

#: Churn of active customers: one who rented in the last 30 days rents nothing in the next 30.
CHURN = (
    "PREDICT COUNT(rentals.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
    "WHERE COUNT(rentals.*, -30, 0, days) > 0"
)
DENSE_START, DENSE_END, FINAL_DAY = pd.Timestamp("2005-01-01"), pd.Timestamp("2005-04-30"), pd.Timestamp("2005-11-01")


def write_gapped_rentals(path: Path, customers: int = 40, seed: int = 0) -> Path:
    """Write the SQLite database (customers, staff, rentals with declared keys) to ``path``."""
    rng = np.random.default_rng(seed)
    dense_days = (DENSE_END - DENSE_START).days + 1
    rows = []
    for customer in range(1, customers + 1):
        every = rng.uniform(3, 60)  # mean days between this customer's rentals
        count = rng.poisson(dense_days / every) + 1
        for offset in rng.uniform(0, dense_days, count):
            rows.append((customer, DENSE_START + pd.Timedelta(days=float(offset))))
    for customer in rng.choice(np.arange(1, customers + 1), 25):  # the final day: more rows than strays
        rows.append((int(customer), FINAL_DAY + pd.Timedelta(hours=float(rng.uniform(9, 18)))))
    rows.sort(key=lambda r: r[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE staff (staff_id INTEGER PRIMARY KEY, name TEXT)")
        con.execute(
            "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, created_at TIMESTAMP)"
        )
        con.execute(
            "CREATE TABLE rentals (rental_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(customer_id), "
            "staff_id INTEGER REFERENCES staff(staff_id), rented_at TIMESTAMP, amount REAL)"
        )
        con.executemany("INSERT INTO staff VALUES (?, ?)", [(1, "Mike"), (2, "Jon")])
        con.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(c, f"customer {c}", str(DENSE_START - pd.Timedelta(days=30))) for c in range(1, customers + 1)],
        )
        con.executemany(
            "INSERT INTO rentals VALUES (?, ?, ?, ?, ?)",
            [
                (i + 1, c, int(rng.integers(1, 3)), when.strftime("%Y-%m-%d %H:%M:%S"), round(float(rng.uniform(1, 5)), 2))
                for i, (c, when) in enumerate(rows)
            ],
        )
    return path
