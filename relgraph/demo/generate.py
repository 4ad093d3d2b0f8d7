"""A deterministic synthetic e-commerce database (SQLite, declared primary and foreign keys).

Tables: ``categories``, ``products``, ``customers``, ``orders``, ``order_items``, ``reviews``,
``support_tickets``; two years of activity (2023-01-02 to 2024-12-30) simulated week by week,
vectorised over customers and items (104 steps of NumPy, no per-row Python).

Built-in signal, so the demo's tasks are learnable and need the graph:

* seasonality: weekly (weekends busier) and yearly (late-November peak, summer dip);
* preferences: each customer favours a few categories and re-buys products, so "next products"
  is predictable from purchase history;
* churn: a customer's weekly hazard rises with their own bad experiences and support tickets,
  and with the *reputation* of the products they bought, i.e. bad reviews written by other
  customers (customer → orders → order_items → products → reviews: a multi-hop signal);
  unhappy customers also order less before they leave.

``products.last_update`` is an audit column (time of the last catalogue edit), not an event time.
Same ``seed`` and ``scale`` → byte-identical file.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: First simulated day (a Monday) and number of simulated weeks.
START = np.datetime64("2023-01-02T00:00:00", "s")
WEEKS = 104
WEEK = 7 * 86_400
DAY = 86_400

CATEGORIES = [
    ("Electronics", "Tech"),
    ("Computers", "Tech"),
    ("Books", "Media"),
    ("Music", "Media"),
    ("Kitchen", "Home"),
    ("Garden", "Home"),
    ("Furniture", "Home"),
    ("Toys", "Family"),
    ("Baby", "Family"),
    ("Sports", "Leisure"),
    ("Outdoors", "Leisure"),
    ("Beauty", "Personal care"),
    ("Fashion", "Personal care"),
    ("Pets", "Family"),
]
NOUNS = ["speaker", "laptop", "novel", "vinyl", "pan", "hose", "chair", "puzzle", "stroller", "racket", "tent",
         "serum", "jacket", "leash"]  # fmt: skip
BRANDS = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
          "Tyrell", "Cyberdyne", "Wonka", "Oscorp", "Aperture", "Monarch", "Pied Piper", "Gringotts"]  # fmt: skip
REGIONS = ["north", "south", "east", "west", "central"]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
CHANNELS = ["web", "app", "store"]
TOPICS = ["delivery", "refund", "defect", "billing", "account"]

# Review bodies: opening by sentiment + a remark + a closing, so bodies read as free text.
REVIEW_OPENINGS = [
    ["Broke after a week", "Poor quality", "Arrived damaged", "Not as described", "Very disappointed",
     "Cheap materials", "Stopped working quickly", "Would not buy again"],
    ["Okay", "Does the job", "Average", "Fine for the price", "Not bad", "Decent enough", "Mixed feelings",
     "As expected"],
    ["Great", "Excellent", "Love this", "Works perfectly", "Very happy with this", "Solid build",
     "Exceeded my expectations", "Fantastic value"],
]  # fmt: skip
REVIEW_REMARKS = ["the {noun} looks nice", "delivery took {n} days", "used it {n} times so far",
                  "bought it as a gift", "the {noun} is smaller than pictured", "setup was easy",
                  "the instructions were unclear", "my second {noun} from this brand"]  # fmt: skip
REVIEW_CLOSINGS = ["", " Recommended.", " Returning it.", " Will update later.", " Five stars from me.",
                   " Customer service was helpful.", " Packaging was wasteful."]  # fmt: skip
TICKET_TEXT = {
    "delivery": ["Where is my parcel", "Delivery is late", "Parcel left at the wrong door"],
    "refund": ["I want my money back", "Refund not received", "Please refund this order"],
    "defect": ["Item stopped working", "Product arrived broken", "Missing parts in the box"],
    "billing": ["Charged twice", "Wrong amount on invoice", "Card declined but charged"],
    "account": ["Cannot log in", "Please update my address", "Delete my account data"],
}
TICKET_DETAILS = ["waited {n} days already", "second time I write about this", "please call me back",
                  "order placed {n} days ago", "this is urgent", "no reply to my email from {n} days ago"]  # fmt: skip

SCHEMA_SQL = """
CREATE TABLE categories (
    category_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    department TEXT NOT NULL
);
CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES categories(category_id),
    name TEXT NOT NULL,
    brand TEXT NOT NULL,
    price REAL NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_update TIMESTAMP NOT NULL
);
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    signup_at TIMESTAMP NOT NULL,
    region TEXT NOT NULL,
    age_band TEXT NOT NULL,
    newsletter INTEGER NOT NULL
);
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    ordered_at TIMESTAMP NOT NULL,
    channel TEXT NOT NULL
);
CREATE TABLE order_items (
    order_item_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    quantity INTEGER NOT NULL,
    price REAL NOT NULL
);
CREATE TABLE reviews (
    review_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    rating INTEGER NOT NULL,
    body TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE support_tickets (
    ticket_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    order_id INTEGER REFERENCES orders(order_id),
    opened_at TIMESTAMP NOT NULL,
    topic TEXT NOT NULL,
    message TEXT NOT NULL
);
"""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _iso(seconds: np.ndarray) -> list[str]:
    """int64 seconds since epoch -> 'YYYY-MM-DD HH:MM:SS' strings."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return np.char.replace(text, "T", " ").tolist()


def _pick(rng: np.random.Generator, options: list[str], n: int, p: np.ndarray | None = None) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=p)]


def _fill(rng: np.random.Generator, templates: list[str], nouns: np.ndarray) -> np.ndarray:
    """One random template per row with ``{noun}`` (per row) and ``{n}`` (2..14) filled in."""
    n = len(nouns)
    choice = rng.integers(0, len(templates), n)
    numbers = rng.integers(2, 15, n).astype(str).astype(object)
    out = np.empty(n, dtype=object)
    # Split each template at its placeholders once; filling is then array concatenation.
    for t, template in enumerate(templates):
        rows = np.flatnonzero(choice == t)
        filled = np.full(len(rows), "", dtype=object)
        for part in re.split(r"(\{noun\}|\{n\})", template):
            filled = filled + (nouns[rows] if part == "{noun}" else numbers[rows] if part == "{n}" else part)
        out[rows] = filled
    return out


def _seasonality(week_mid: np.ndarray) -> np.ndarray:
    """Demand multiplier per week: yearly wave peaking in December, a late-November burst, summer dip."""
    day_of_year = (week_mid.astype("datetime64[D]") - week_mid.astype("datetime64[Y]")).astype(np.int64)
    wave = 0.25 * np.cos(2 * np.pi * (day_of_year - 350) / 365.0)
    burst = 0.8 * np.exp(-(((day_of_year - 330) / 10.0) ** 2))
    return 1.0 + wave + burst


@dataclass
class _Events:
    """Rows accumulated over the simulated weeks, as lists of arrays (concatenated at the end)."""

    order_customer: list[np.ndarray] = field(default_factory=list)
    order_time: list[np.ndarray] = field(default_factory=list)
    order_channel: list[np.ndarray] = field(default_factory=list)
    item_order: list[np.ndarray] = field(default_factory=list)
    item_product: list[np.ndarray] = field(default_factory=list)
    item_quantity: list[np.ndarray] = field(default_factory=list)
    item_price: list[np.ndarray] = field(default_factory=list)
    review_customer: list[np.ndarray] = field(default_factory=list)
    review_product: list[np.ndarray] = field(default_factory=list)
    review_rating: list[np.ndarray] = field(default_factory=list)
    review_time: list[np.ndarray] = field(default_factory=list)
    ticket_customer: list[np.ndarray] = field(default_factory=list)
    ticket_order: list[np.ndarray] = field(default_factory=list)
    ticket_time: list[np.ndarray] = field(default_factory=list)
    ticket_topic: list[np.ndarray] = field(default_factory=list)


def make_demo_database(path: str | Path, seed: int = 0, scale: float = 1.0) -> Path:
    """Write the synthetic shop to ``path`` (replaced if it exists) and return the path.

    Args:
        path: SQLite file to create.
        seed: random seed; the same seed and scale give a byte-identical file.
        scale: multiplies the number of customers and products (1.0: ~3k customers, ~400
            products, ~40k orders, ~100k order items).
    """
    rng = np.random.default_rng(seed)
    start = START.astype(np.int64)
    end = start + WEEKS * WEEK
    n_cat = len(CATEGORIES)
    n_products = max(n_cat * 3, round(400 * scale))
    n_customers = max(50, round(3000 * scale))

    # Catalogue: category quality is shared by its products; brands add their own.
    cat_quality = rng.normal(0.0, 0.7, n_cat)
    brand_quality = rng.normal(0.0, 0.4, len(BRANDS))
    product_cat = np.concatenate([np.arange(n_cat), rng.integers(0, n_cat, n_products - n_cat)])
    product_brand = rng.integers(0, len(BRANDS), n_products)
    quality = cat_quality[product_cat] + brand_quality[product_brand] + rng.normal(0.0, 0.5, n_products)
    price = np.round(np.exp(rng.normal(3.2, 0.8, n_products) + 0.3 * quality), 2)
    popularity = np.exp(rng.normal(0.0, 1.0, n_products))
    launched = rng.random(n_products) < 0.3
    launched[:n_cat] = False  # every category has products from the start
    created = np.where(
        launched,
        start + rng.integers(0, 80 * WEEK, n_products),
        start - rng.integers(DAY, 400 * DAY, n_products),
    )
    last_update = np.maximum(created + DAY, end - rng.integers(0, 90 * DAY, n_products))

    # Customers: 40 % signed up before the window, the rest spread over it (growing shop).
    early = rng.random(n_customers) < 0.4
    signup = np.where(
        early,
        start - rng.integers(DAY, 730 * DAY, n_customers),
        start + (np.sqrt(rng.random(n_customers)) * (WEEKS - 4) * WEEK).astype(np.int64),
    )
    signup = np.sort(signup)  # customer ids in signup order, as a real shop would number them
    region = rng.choice(len(REGIONS), n_customers, p=[0.25, 0.2, 0.2, 0.2, 0.15])
    age = rng.choice(len(AGE_BANDS), n_customers, p=[0.12, 0.26, 0.22, 0.18, 0.13, 0.09])
    newsletter = (rng.random(n_customers) < 0.45).astype(np.int64)
    rate = np.exp(rng.normal(np.log(0.38), 0.7, n_customers)) * (1 + 0.3 * newsletter)
    preference = rng.dirichlet(np.full(n_cat, 0.35), n_customers) * 0.9 + 0.1 / n_cat
    preference_cdf = np.cumsum(preference, axis=1)
    channel_pref = rng.dirichlet([2.0, 1.5, 0.8], n_customers)
    region_risk = np.array([0.0, 0.25, -0.1, 0.1, 0.3])[region]
    age_risk = np.array([0.5, 0.3, 0.0, -0.1, -0.2, -0.3])[age]

    # Customer state, decayed weekly.
    churned = np.zeros(n_customers, dtype=bool)
    bad_experiences = np.zeros(n_customers)
    tickets_open = np.zeros(n_customers)
    exposure = np.zeros(n_customers)  # reputation (share of bad reviews) of the products bought
    last_product = np.full(n_customers, -1)
    review_bad = np.zeros(n_products)  # decayed counts of bad / all reviews per product
    review_all = np.zeros(n_products)

    weekday_weights = np.array([1.0, 0.95, 0.95, 1.0, 1.15, 1.45, 1.3])
    weekday_p = weekday_weights / weekday_weights.sum()
    hour_weights = np.array(
        [1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 11, 12, 11, 10, 10, 11, 13, 16, 18, 17, 13, 8, 3], float
    )
    hour_p = hour_weights / hour_weights.sum()
    week_starts = start + np.arange(WEEKS) * WEEK
    season = _seasonality((week_starts + WEEK // 2).astype("datetime64[s]"))
    ev = _Events()
    next_order_id = 1

    for week, week_start in enumerate(week_starts):
        active = (signup <= week_start) & ~churned
        mood = np.exp(-0.35 * bad_experiences - 0.3 * tickets_open)
        n_orders = rng.poisson(rate * season[week] * mood * active)
        customer = np.repeat(np.arange(n_customers), n_orders)
        k = len(customer)
        order_time = (
            week_start
            + rng.choice(7, k, p=weekday_p) * DAY
            + rng.choice(24, k, p=hour_p) * 3600
            + rng.integers(0, 3600, k)
        )
        order_time = np.maximum(order_time, signup[customer] + 60)
        order_ids = np.arange(next_order_id, next_order_id + k)
        next_order_id += k
        channel_u = rng.random(k)
        channel = (channel_u[:, None] > np.cumsum(channel_pref[customer], axis=1)).sum(axis=1)
        ev.order_customer.append(customer)
        ev.order_time.append(order_time)
        ev.order_channel.append(np.minimum(channel, len(CHANNELS) - 1))

        # Items: category by preference, product by popularity among available ones; some re-buys.
        n_items = 1 + rng.poisson(1.5, k)
        item_order = np.repeat(np.arange(k), n_items)
        item_customer = customer[item_order]
        m = len(item_order)
        category = (rng.random(m)[:, None] > preference_cdf[item_customer]).sum(axis=1)
        category = np.minimum(category, n_cat - 1)
        available = popularity * (created <= week_start)
        weights = np.zeros((n_cat, n_products))
        weights[product_cat, np.arange(n_products)] = available
        cdf = np.cumsum(weights, axis=1)
        target = rng.random(m) * cdf[category, -1]
        product = (target[:, None] > cdf[category]).sum(axis=1)
        product = np.minimum(product, n_products - 1)
        rebuy = (rng.random(m) < 0.25) & (last_product[item_customer] >= 0)
        product = np.where(rebuy, last_product[item_customer], product)
        last_product[item_customer] = product  # the last item written per customer wins
        discount = np.where(season[week] > 1.5, 0.8, 1.0)
        ev.item_order.append(order_ids[item_order])
        ev.item_product.append(product)
        ev.item_quantity.append(1 + rng.poisson(0.3, m))
        ev.item_price.append(np.round(price[product] * discount * rng.uniform(0.95, 1.05, m), 2))

        # Experiences, reviews and tickets.
        bad = rng.random(m) < _sigmoid(-2.6 - 1.3 * quality[product])
        writes = rng.random(m) < 0.12 + 0.3 * bad
        good_rating = np.clip(np.round(3.9 + 0.6 * quality[product] + rng.normal(0, 0.7, m)), 3, 5)
        rating = np.where(bad, rng.choice([1, 2], m, p=[0.6, 0.4]), good_rating).astype(np.int64)
        review_time = order_time[item_order] + rng.integers(DAY, 21 * DAY, m)
        ev.review_customer.append(item_customer[writes])
        ev.review_product.append(product[writes])
        ev.review_rating.append(rating[writes])
        ev.review_time.append(review_time[writes])
        np.add.at(review_bad, product[writes], (rating[writes] <= 2).astype(float))
        np.add.at(review_all, product[writes], 1.0)

        order_bad = np.bincount(item_order, weights=bad, minlength=k)
        ticket = rng.random(k) < 0.03 + 0.3 * (order_bad > 0)
        topic = np.where(
            order_bad[ticket] > 0,
            rng.choice(3, int(ticket.sum()), p=[0.2, 0.35, 0.45]),
            rng.choice([0, 3, 4], int(ticket.sum()), p=[0.6, 0.25, 0.15]),
        )
        ev.ticket_customer.append(customer[ticket])
        ev.ticket_order.append(order_ids[ticket])
        ev.ticket_time.append(order_time[ticket] + rng.integers(3600, 10 * DAY, int(ticket.sum())))
        ev.ticket_topic.append(topic)
        # Account / billing questions not tied to an order.
        loose = np.flatnonzero(active & (rng.random(n_customers) < 0.004))
        ev.ticket_customer.append(loose)
        ev.ticket_order.append(np.full(len(loose), -1))
        ev.ticket_time.append(week_start + rng.integers(0, WEEK, len(loose)))
        ev.ticket_topic.append(rng.choice([3, 4], len(loose)))

        # State update and churn: own experiences, tickets, and bought products' reputation.
        reputation = review_bad / (review_all + 2.0)
        bought_reputation = np.bincount(item_customer, weights=reputation[product], minlength=n_customers)
        bought = np.bincount(item_customer, minlength=n_customers)
        exposure = np.where(
            bought > 0, 0.6 * exposure + 0.4 * bought_reputation / np.maximum(bought, 1), exposure
        )
        bad_experiences = 0.85 * bad_experiences + np.bincount(
            item_customer, weights=bad, minlength=n_customers
        )
        tickets_open = (
            0.8 * tickets_open
            + np.bincount(customer[ticket], minlength=n_customers)
            + np.bincount(loose, minlength=n_customers)
        )
        review_bad *= 0.97
        review_all *= 0.97
        hazard = _sigmoid(
            -6.4
            + 0.45 * bad_experiences
            + 0.6 * tickets_open
            + 6.0 * exposure
            - 0.6 * cat_quality[np.argmax(preference, axis=1)]
            + region_risk
            + age_risk
        )
        churned |= active & (rng.random(n_customers) < hazard)

    _write(
        Path(path),
        rng,
        ev,
        signup=signup,
        region=region,
        age=age,
        newsletter=newsletter,
        product_cat=product_cat,
        product_brand=product_brand,
        price=price,
        created=created,
        last_update=last_update,
        end=end,
    )
    return Path(path)


def _write(
    path: Path,
    rng: np.random.Generator,
    ev: _Events,
    *,
    signup: np.ndarray,
    region: np.ndarray,
    age: np.ndarray,
    newsletter: np.ndarray,
    product_cat: np.ndarray,
    product_brand: np.ndarray,
    price: np.ndarray,
    created: np.ndarray,
    last_update: np.ndarray,
    end: int,
) -> None:
    """Create the SQLite file: schema with declared keys, then every table in one transaction."""
    cat = {name: np.concatenate(getattr(ev, name)) for name in vars(ev)}
    n_products, n_customers = len(product_cat), len(signup)
    nouns = np.asarray(NOUNS, dtype=object)
    product_names = (
        np.asarray(BRANDS, dtype=object)[product_brand]
        + " "
        + nouns[product_cat]
        + " "
        + rng.integers(100, 999, n_products).astype(str).astype(object)
    )

    # Reviews and tickets: keep those inside the window, number them in time order.
    keep = np.flatnonzero(cat["review_time"] < end)
    keep = keep[np.argsort(cat["review_time"][keep], kind="stable")]
    rating = cat["review_rating"][keep]
    mood = np.where(rating <= 2, 0, np.where(rating == 3, 1, 2))
    openings = np.asarray(REVIEW_OPENINGS, dtype=object)
    body = (
        openings[mood, rng.integers(0, openings.shape[1], len(keep))]
        + ", "
        + _fill(rng, REVIEW_REMARKS, nouns[product_cat[cat["review_product"][keep]]])
        + "."
        + np.asarray(REVIEW_CLOSINGS, dtype=object)[rng.integers(0, len(REVIEW_CLOSINGS), len(keep))]
    )
    body[rng.random(len(keep)) < 0.2] = None  # rating-only reviews

    tkeep = np.flatnonzero(cat["ticket_time"] < end)
    tkeep = tkeep[np.argsort(cat["ticket_time"][tkeep], kind="stable")]
    topic = cat["ticket_topic"][tkeep]
    messages = np.asarray([TICKET_TEXT[t] for t in TOPICS], dtype=object)
    message = (
        messages[topic, rng.integers(0, messages.shape[1], len(tkeep))]
        + ", "
        + _fill(rng, TICKET_DETAILS, np.full(len(tkeep), "", dtype=object))
    )
    ticket_order = cat["ticket_order"][tkeep]

    n_orders, n_items = len(cat["order_customer"]), len(cat["item_order"])
    rows: dict[str, list[tuple]] = {
        "categories": list(zip(range(1, len(CATEGORIES) + 1), *zip(*CATEGORIES))),
        "products": list(
            zip(
                range(1, n_products + 1),
                (product_cat + 1).tolist(),
                product_names.tolist(),
                np.asarray(BRANDS)[product_brand].tolist(),
                price.tolist(),
                _iso(created),
                _iso(last_update),
            )
        ),
        "customers": list(
            zip(
                range(1, n_customers + 1),
                _iso(signup),
                np.asarray(REGIONS)[region].tolist(),
                np.asarray(AGE_BANDS)[age].tolist(),
                newsletter.tolist(),
            )
        ),
        "orders": list(
            zip(
                range(1, n_orders + 1),
                (cat["order_customer"] + 1).tolist(),
                _iso(cat["order_time"]),
                np.asarray(CHANNELS)[cat["order_channel"]].tolist(),
            )
        ),
        "order_items": list(
            zip(
                range(1, n_items + 1),
                cat["item_order"].tolist(),
                (cat["item_product"] + 1).tolist(),
                cat["item_quantity"].tolist(),
                cat["item_price"].tolist(),
            )
        ),
        "reviews": list(
            zip(
                range(1, len(keep) + 1),
                (cat["review_customer"][keep] + 1).tolist(),
                (cat["review_product"][keep] + 1).tolist(),
                rating.tolist(),
                body.tolist(),
                _iso(cat["review_time"][keep]),
            )
        ),
        "support_tickets": list(
            zip(
                range(1, len(tkeep) + 1),
                (cat["ticket_customer"][tkeep] + 1).tolist(),
                [None if o < 0 else int(o) for o in ticket_order.tolist()],
                _iso(cat["ticket_time"][tkeep]),
                np.asarray(TOPICS)[topic].tolist(),
                message.tolist(),
            )
        ),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA_SQL)
        with con:
            for table, values in rows.items():
                marks = ", ".join("?" * len(values[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    finally:
        con.close()
