"""A tiny SQLite database shaped like the public DVD-rental sample (Sakila / Pagila ``dvdrental``).

Customers, staff, stores, films and inventory are static (every row carries the same ``last_update``
audit stamp); rentals point at customers, staff and inventory, payments at customers, staff and
rentals. As in the public dump, payments are dated about two years after their rentals and a few
stray rentals come months after the rest, which is why users pass explicit cutoffs
(``--val-cutoff 2005-07-01 --test-cutoff 2005-07-25``). Rentals carry no number of their own, so an
inventory item (a rental's other parent) has no recent-form summary to offer.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

QUERY = "PREDICT COUNT(rental.*, 0, 14, days) = 0 FOR EACH customer.customer_id"
VAL_CUTOFF, TEST_CUTOFF = "2005-07-01", "2005-07-25"
STAMP = "2006-02-15 09:34:33"


def write_dvd_rental(path: Path, customers: int = 40, rentals: int = 700, seed: int = 0) -> str:
    """Write the database to ``path`` and return its ``sqlite:///`` URL."""
    rng = np.random.default_rng(seed)
    films, items = 15, 50
    start, end = pd.Timestamp("2005-05-24").value, pd.Timestamp("2005-08-23").value
    times = pd.to_datetime(np.sort(rng.integers(start, end, rentals)))
    # Some customers stop renting early (churn); the rest rent throughout.
    quits = pd.to_datetime(rng.integers(pd.Timestamp("2005-06-15").value, end, customers))
    customer = rng.integers(1, customers + 1, rentals)
    kept = times <= quits[customer - 1]
    times, customer = times[kept], customer[kept]
    stray = pd.to_datetime(["2006-02-14 15:16:03"] * 3)  # the dump's late stragglers
    times, customer = times.append(stray), np.concatenate([customer, rng.integers(1, customers + 1, 3)])
    n = len(times)
    fmt = "%Y-%m-%d %H:%M:%S"
    rental = pd.DataFrame({
        "rental_id": np.arange(1, n + 1), "rental_date": times.strftime(fmt),
        "inventory_id": rng.integers(1, items + 1, n), "customer_id": customer,
        "return_date": (times + pd.to_timedelta(rng.integers(1, 8, n), "D")).strftime(fmt),
        "staff_id": rng.integers(1, 3, n), "last_update": STAMP,
    })
    paid = rental.sample(frac=0.9, random_state=seed).sort_values("rental_id")
    tables = {
        "store": pd.DataFrame({"store_id": [1, 2], "manager_staff_id": [1, 2], "last_update": STAMP}),
        "staff": pd.DataFrame({"staff_id": [1, 2], "first_name": ["Mike", "Jon"], "store_id": [1, 2],
                               "active": 1, "last_update": STAMP}),
        "customer": pd.DataFrame({
            "customer_id": np.arange(1, customers + 1), "store_id": rng.integers(1, 3, customers),
            "first_name": [f"Name{i}" for i in range(customers)],
            "email": [f"customer{i}@sakilacustomer.org" for i in range(customers)],
            "active": 1, "create_date": "2006-02-14", "last_update": STAMP,
        }),
        "film": pd.DataFrame({
            "film_id": np.arange(1, films + 1), "title": [f"FILM TITLE {i}" for i in range(films)],
            "release_year": 2006, "rental_rate": rng.choice([0.99, 2.99, 4.99], films),
            "length": rng.integers(60, 180, films), "rating": rng.choice(["G", "PG", "R"], films),
            "last_update": STAMP,
        }),
        "inventory": pd.DataFrame({"inventory_id": np.arange(1, items + 1), "film_id": rng.integers(1, films + 1, items),
                                   "store_id": rng.integers(1, 3, items), "last_update": STAMP}),
        "rental": rental,
        "payment": pd.DataFrame({
            "payment_id": np.arange(1, len(paid) + 1), "customer_id": paid["customer_id"].to_numpy(),
            "staff_id": paid["staff_id"].to_numpy(), "rental_id": paid["rental_id"].to_numpy(),
            "amount": rng.choice([0.99, 2.99, 4.99], len(paid)),
            "payment_date": (pd.to_datetime(paid["rental_date"]) + pd.Timedelta(days=630)).dt.strftime(fmt).to_numpy(),
        }),
    }
    con = sqlite3.connect(path)
    with con:
        for name, frame in tables.items():
            frame.to_sql(name, con, index=False)
    con.close()
    return f"sqlite:///{path}"
