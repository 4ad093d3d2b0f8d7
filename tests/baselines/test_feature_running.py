"""``relgraph ask``'s NumPy feature path (``feature_small.numpy_path``): running tables from the
stream's sorted rows equal the SQL ones, features of large frames equal the batch path's, and a
cache built on the whole database gives the features one built on ``db.cut(t)`` gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shop_fixtures import make_shop, random_shop
from test_feature_small import DAY, assert_same, transform_on_small_path

from relgraph.baselines import feature_small
from relgraph.baselines.aggregates import TemporalFeatureBuilder, clear_feature_cache
from relgraph.baselines.feature_batch import _BatchTransform
from relgraph.baselines.feature_index import _AnchorIndex, range_extreme
from relgraph.baselines.feature_running import running_table, stream_rows
from relgraph.baselines.feature_small import numpy_path
from relgraph.baselines.feature_sql import _execute
from relgraph.database import Database
from relgraph.engines import engine_for


def _builder(db: Database, entity: str, frame: pd.DataFrame) -> TemporalFeatureBuilder:
    return TemporalFeatureBuilder(depth=2, windows=[7, 30], last_n=(1, 3, 5), max_features=None).fit(db, entity, frame)


def _frame(db: Database, key: str, table: str, hours: list[int]) -> pd.DataFrame:
    ids = db.table(table).column(key).to_numpy()
    return pd.DataFrame({key: [ids[i % len(ids)] for i in range(len(hours))],
                         "timestamp": [DAY + pd.Timedelta(hours=12 * h) for h in hours]})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), entity=st.sampled_from(["customers", "orders"]))
def test_numpy_running_tables_equal_the_sql_ones(seed, entity) -> None:
    """Every running column of every stream (cumulative, last-n, per-value, times, last values),
    on random shops with ties in time and missing values: same rows, floats within 1e-9."""
    db = random_shop(np.random.default_rng(seed))
    key = {"customers": "customer_id", "orders": "order_id"}[entity]
    builder = _builder(db, entity, _frame(db, key, entity, list(range(-10, 200, 7))))
    con = engine_for(db)
    _, streams = builder._plan(db)
    assert streams
    for s in streams:
        names = sorted(builder._running_columns(s))
        sql = _BatchTransform._running_table(builder, db, con, s, names)
        new = running_table(builder, db, con, s, names)
        assert sql.column("__anchor").to_pylist() == new.column("__anchor").to_pylist(), s.name
        assert sql.column("__t").to_pylist() == new.column("__t").to_pylist(), s.name
        for n in names:
            a, b = sql.column(n), new.column(n)
            if pa.types.is_timestamp(a.type) or pa.types.is_string(a.type) or pa.types.is_null(a.type):
                assert a.to_pylist() == b.to_pylist(), (s.name, n)
            else:
                np.testing.assert_allclose(pc.cast(b, pa.float64()).to_numpy(zero_copy_only=False),
                                           pc.cast(a, pa.float64()).to_numpy(zero_copy_only=False),
                                           rtol=1e-9, atol=1e-12, err_msg=f"{s.name} {n}")
    clear_feature_cache()


def _tied_shop(rng: np.random.Generator) -> Database:
    """A shop whose orders mostly share one time per customer, with values in shuffled order."""
    n = 40
    day = pd.Timestamp("2024-01-01")
    amount = rng.integers(0, 4, n).astype(float)
    amount[rng.random(n) < 0.2] = np.nan
    orders = pd.DataFrame({"order_id": rng.permutation(n), "customer_id": rng.integers(0, 2, n), "store_id": rng.integers(0, 2, n),
                           "amount": amount, "status": rng.choice(["ok", "late", None], n),
                           "ts": day + pd.to_timedelta(rng.integers(0, 3, n), "D")})
    return make_shop(pd.DataFrame({"customer_id": [0, 1], "age": [1.0, 2.0], "segment": ["a", "b"], "signup": [day, day]}),
                     pd.DataFrame({"store_id": [0, 1], "size": [1.0, np.nan]}), orders,
                     pd.DataFrame({"item_id": [0], "order_id": [0], "price": [1.0]}),
                     pd.DataFrame({"review_id": [0], "order_id": [0], "stars": [1.0], "ts": [day]}))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), keyless=st.booleans(), tied=st.booleans())
def test_sorted_stream_rows_are_the_sql_order(seed, keyless, tied) -> None:
    """The stream rows sorted by Arrow are the SQL's sorted rows, and ``__ord`` orders each
    anchor's rows as the SQL's row number does; keyless tables order ties by their values (nulls last)."""
    rng = np.random.default_rng(seed)
    db = _tied_shop(rng) if tied else random_shop(rng)
    if keyless:
        for table in ("orders", "items", "reviews"):
            db.schema[table].primary_key = None
    builder = TemporalFeatureBuilder(depth=2)
    builder.entity_table_ = "customers"
    con = engine_for(db)
    _, streams = builder._plan(db)
    assert streams and all(s.unordered for s in streams)
    for s in streams:
        sql = _execute(con, f"SELECT * FROM ({s.sql}) ORDER BY __anchor, __t, __ord")
        new = stream_rows(db, con, s)
        assert new.column_names == sql.column_names and new.schema == sql.schema, s.name
        assert new.drop_columns(["__ord"]).equals(sql.drop_columns(["__ord"])), s.name
        anchors = new.column("__anchor").to_numpy(zero_copy_only=False)
        for ords in (new.column("__ord").to_numpy(), sql.column("__ord").to_numpy()):
            same = anchors[1:] == anchors[:-1]
            assert (np.diff(ords)[same] > 0).all(), s.name


def _paths(builder: TemporalFeatureBuilder, db: Database, frame: pd.DataFrame,
           monkeypatch: pytest.MonkeyPatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(NumPy path, batch path) features of ``frame`` (larger than SMALL_BATCH_ROWS), from cold caches."""
    monkeypatch.setattr(feature_small, "SMALL_BATCH_ROWS", 2)
    with numpy_path(10_000):
        fast = transform_on_small_path(builder, db, frame, monkeypatch)
    clear_feature_cache()
    batch = builder.transform(db, frame)
    clear_feature_cache()
    return fast, batch


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), hours=st.lists(st.integers(-30, 300), min_size=3, max_size=25))
def test_numpy_path_equals_the_batch_path(seed, hours, monkeypatch) -> None:
    """Frames past the small-batch size inside ``numpy_path``: the batch path's features."""
    db = random_shop(np.random.default_rng(seed))
    frame = _frame(db, "customer_id", "customers", hours)
    builder = _builder(db, "customers", frame)
    fast, batch = _paths(builder, db, frame, monkeypatch)
    assert_same(fast, batch)


def test_numpy_path_sees_nothing_after_the_prediction_time(monkeypatch) -> None:
    """The caches built on the whole database (sorted stream rows, running columns) give, at
    ``t``, the features built on ``db.cut(t)`` give."""
    db = random_shop(np.random.default_rng(5))
    ids = db.table("customers").column("customer_id").to_numpy()
    builder = _builder(db, "customers", pd.DataFrame({"customer_id": ids, "timestamp": DAY + pd.Timedelta(days=100)}))
    for days in (5, 60, 150):
        t = DAY + pd.Timedelta(days=days)
        frame = pd.DataFrame({"customer_id": np.r_[ids, ids], "timestamp": [t] * len(ids) + [t - pd.Timedelta(days=3)] * len(ids)})
        whole, _ = _paths(builder, db, frame, monkeypatch)
        cut, _ = _paths(builder, db.cut(np.datetime64(t)), frame, monkeypatch)
        assert_same(whole, cut)


def test_vectorised_searches_equal_one_search_per_row() -> None:
    """``_AnchorIndex`` finds, for every row at once, what a binary search per row finds; the
    window extremes are those of each row's slice (NaN skipped; NaN where none)."""
    rng = np.random.default_rng(0)
    anchors = np.sort(rng.integers(0, 6, 80))
    times = np.concatenate([np.sort(rng.integers(0, 40, (anchors == a).sum())) for a in np.unique(anchors)]) * 86_400 * 10**9
    table = pa.table({"__anchor": anchors, "__t": pa.array(times, pa.timestamp("ns"))})
    index = _AnchorIndex.of(table)
    probe = pa.chunked_array([pa.array(rng.integers(-1, 8, 200))])
    at = rng.integers(-5, 45, 200) * 86_400 * 10**9 + rng.integers(0, 2, 200)
    lo, hi = index.blocks(probe)
    values = np.where(rng.random(80) < 0.3, np.nan, rng.normal(size=80))
    found = index.last_at_or_before(lo, hi, at).to_numpy(zero_copy_only=False)
    a, b = index.window(lo, hi, at, 7)
    low, high = range_extreme(values, a, b, "min"), range_extreme(values, a, b, "max")
    for r in range(200):
        block = index.times[lo[r]:hi[r]]
        last = lo[r] + np.searchsorted(block, at[r], side="right") - 1
        assert (np.isnan(found[r]) if last < lo[r] else found[r] == last), r
        first = lo[r] + np.searchsorted(block, at[r] - 7 * 86_400 * 10**9, side="right")
        assert (a[r], b[r]) == (first, last + 1), r
        inside = values[first:last + 1][~np.isnan(values[first:last + 1])]
        assert (np.isnan(low[r]) and np.isnan(high[r])) if not len(inside) else (low[r], high[r]) == (inside.min(), inside.max())
