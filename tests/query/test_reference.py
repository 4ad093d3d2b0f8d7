"""Property test: on random small databases, the SQL training tables equal a plain pandas
evaluation of the same query, written here independently from the planner."""

from __future__ import annotations

import math
import operator

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from query_fixtures import combined_conditions, day, make_db

from relgraph.query import make_training_table
from relgraph.query.ast import (
    Aggregate,
    And,
    ColumnRef,
    Comparison,
    Condition,
    IsNull,
    Literal,
    Not,
    Or,
    Query,
    Rank,
    Window,
)

OPS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
NUMBERS = st.sampled_from([-1, 0, 1, 1.5, 2, 5])
KINDS = st.sampled_from(["x", "y", None])


# -- random databases --------------------------------------------------------------------------
@st.composite
def databases(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, bool, pd.DataFrame | None]:
    """users, events (with their user in ``uid``), whether users are timed, and optionally
    ``sessions``: then the database reaches users only through events.sid -> sessions.uid."""
    n_users = draw(st.integers(1, 5))
    timed = draw(st.booleans())
    users = pd.DataFrame(
        {
            "uid": pd.array(range(n_users), dtype="int64"),
            "grp": pd.array([draw(st.sampled_from(["a", "b", None])) for _ in range(n_users)], dtype=object),
            "created": pd.to_datetime(  # a few users have no known creation time
                [draw(st.sampled_from([None, *range(-6, 7)])) for _ in range(n_users)]
            ).astype("datetime64[ns]"),
        }
    )
    n_events = draw(st.integers(0, 30))
    events = pd.DataFrame(
        {
            "eid": pd.array(range(n_events), dtype="int64"),
            "uid": pd.array(
                [draw(st.sampled_from([None, *range(n_users)])) for _ in range(n_events)], dtype="Int64"
            ),
            "item": pd.array(
                [draw(st.one_of(st.none(), st.integers(0, 3))) for _ in range(n_events)], dtype="Int64"
            ),
            "value": pd.array(
                [draw(st.one_of(st.none(), NUMBERS)) for _ in range(n_events)], dtype="Float64"
            ),
            "kind": pd.array([draw(KINDS) for _ in range(n_events)], dtype=object),
            "at": pd.to_datetime(
                [day(draw(st.integers(-8, 16)) + draw(st.sampled_from([0, 0.5]))) for _ in range(n_events)]
            ).astype("datetime64[ns]"),
        }
    )
    sessions = None
    if draw(st.booleans()):
        n_sessions = draw(st.integers(1, 6))
        sessions = pd.DataFrame(
            {
                "sid": pd.array(range(n_sessions), dtype="int64"),
                "uid": pd.array(
                    [draw(st.sampled_from([None, *range(n_users)])) for _ in range(n_sessions)], dtype="Int64"
                ),
            }
        )
        sid = [draw(st.sampled_from([None, *range(n_sessions)])) for _ in range(n_events)]
        events = events.drop(columns="uid").assign(sid=pd.array(sid, dtype="Int64"))
    return users, events, timed, sessions


# -- random queries ----------------------------------------------------------------------------
def row_conditions() -> st.SearchStrategy:
    atoms = st.one_of(
        st.builds(
            Comparison,
            st.just(ColumnRef("events", "value")),
            st.sampled_from(list(OPS)),
            st.builds(Literal, NUMBERS),
        ),
        st.builds(
            Comparison,
            st.just(ColumnRef("events", "kind")),
            st.sampled_from(["=", "!="]),
            st.builds(Literal, KINDS),
        ),
        st.builds(
            IsNull,
            st.sampled_from([ColumnRef("events", "value"), ColumnRef("events", "kind")]),
            st.booleans(),
        ),
    )
    return combined_conditions(atoms, max_children=2, max_leaves=3)


#: Per unit: (lowest start, highest start, longest window), in that unit.
WINDOW_RANGES = {"days": (-10, 10, 15), "hours": (-240, 240, 360), "weeks": (-2, 2, 2)}


@st.composite
def windows(draw: st.DrawFn, past_only: bool) -> Window:
    unit = draw(st.sampled_from(["days", "days", "hours", "weeks"]))
    lowest, highest, longest = WINDOW_RANGES[unit]
    start = draw(st.integers(lowest, -1 if past_only else highest))
    end = start + draw(st.integers(1, longest))
    return Window(start, min(end, 0) if past_only else end, unit)


@st.composite
def numeric_aggregates(draw: st.DrawFn, past_only: bool = False) -> Aggregate:
    func = draw(
        st.sampled_from(["COUNT", "COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST"])
    )
    if func == "COUNT":
        column = draw(st.sampled_from([None, "value", "kind"]))
    elif func == "COUNT_DISTINCT":
        column = draw(st.sampled_from(["value", "kind", "item"]))
    else:
        column = "value"
    where = draw(st.one_of(st.none(), row_conditions()))
    return Aggregate(func, ColumnRef("events", column), draw(windows(past_only)), where)


def entity_conditions(past_only: bool) -> st.SearchStrategy:
    atoms = st.one_of(
        st.builds(
            Comparison, numeric_aggregates(past_only), st.sampled_from(list(OPS)), st.builds(Literal, NUMBERS)
        ),
        st.builds(IsNull, numeric_aggregates(past_only), st.booleans()),
        st.builds(
            Comparison,
            st.just(ColumnRef("users", "grp")),
            st.sampled_from(["=", "!="]),
            st.builds(Literal, KINDS),
        ),
    )
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.builds(Not, inner), st.builds(Or, st.lists(inner, min_size=2, max_size=2).map(tuple))
        ),
        max_leaves=3,
    )


comparisons = st.builds(
    Comparison, numeric_aggregates(), st.sampled_from(list(OPS)), st.builds(Literal, NUMBERS)
)
targets = st.one_of(
    comparisons,
    comparisons,
    numeric_aggregates(),
    numeric_aggregates(),
    st.builds(
        lambda w, cond: Aggregate("FIRST", ColumnRef("events", "kind"), w, cond), windows(False), st.none()
    ),
    st.builds(
        lambda w, cond, k: Rank(Aggregate("LIST_DISTINCT", ColumnRef("events", "item"), w, cond), k),
        windows(False),
        st.one_of(st.none(), row_conditions()),
        st.integers(1, 5),
    ),
    st.just(ColumnRef("users", "grp")),
)
#: Conditions are optional; drawn rarely enough that most tables keep rows.
queries = st.builds(
    Query,
    targets,
    st.just(ColumnRef("users", "uid")),
    st.one_of(st.none(), st.none(), entity_conditions(past_only=True)),
    st.one_of(st.none(), st.none(), entity_conditions(past_only=False)),
)


# -- the pandas reference ----------------------------------------------------------------------
def _bound(t: pd.Timestamp, amount: int, unit: str) -> pd.Timestamp:
    return t + (pd.DateOffset(months=amount) if unit == "months" else pd.Timedelta(**{unit: amount}))


def _none(value: object) -> object:
    return (
        None if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else value
    )


def _row_holds(cond: Condition, row: dict) -> bool:
    if isinstance(cond, And):
        return all(_row_holds(c, row) for c in cond.items)
    if isinstance(cond, Or):
        return any(_row_holds(c, row) for c in cond.items)
    if isinstance(cond, Not):
        return not _row_holds(cond.item, row)
    if isinstance(cond, IsNull):
        return (row[cond.operand.column] is None) != cond.negated
    value = row[cond.left.column]
    return value is not None and cond.right.value is not None and OPS[cond.op](value, cond.right.value)


def _aggregate(agg: Aggregate, events: pd.DataFrame, t: pd.Timestamp) -> object:
    lo, hi = _bound(t, agg.window.start, agg.window.unit), _bound(t, agg.window.end, agg.window.unit)
    rows = [
        {k: _none(v) for k, v in r.items()}
        for r in events.sort_values(["at", "eid"]).to_dict("records")
        if lo < r["at"] <= hi
    ]
    if agg.where is not None:
        rows = [r for r in rows if _row_holds(agg.where, r)]
    column = agg.column.column
    if agg.func == "COUNT" and column is None:
        return len(rows)
    values = [r[column] for r in rows if r[column] is not None]
    if agg.func == "COUNT":
        return len(values)
    if agg.func == "COUNT_DISTINCT":
        return len(set(values))
    if agg.func == "SUM":
        return sum(values)
    if not values:
        return None
    return {
        "AVG": lambda v: sum(v) / len(v),
        "MIN": min,
        "MAX": max,
        "FIRST": lambda v: v[0],
        "LAST": lambda v: v[-1],
        "LIST_DISTINCT": lambda v: sorted(set(v)),
    }[agg.func](values)


def _value(operand: object, user: dict, events: pd.DataFrame, t: pd.Timestamp) -> object:
    if isinstance(operand, Aggregate):
        return _aggregate(operand, events, t)
    return _none(user[operand.column])


def _holds(cond: Condition, user: dict, events: pd.DataFrame, t: pd.Timestamp) -> bool:
    if isinstance(cond, And):
        return all(_holds(c, user, events, t) for c in cond.items)
    if isinstance(cond, Or):
        return any(_holds(c, user, events, t) for c in cond.items)
    if isinstance(cond, Not):
        return not _holds(cond.item, user, events, t)
    if isinstance(cond, IsNull):
        return (_value(cond.operand, user, events, t) is None) != cond.negated
    value = _value(cond.left, user, events, t)
    return value is not None and cond.right.value is not None and OPS[cond.op](value, cond.right.value)


def reference_table(
    users: pd.DataFrame, events: pd.DataFrame, timed: bool, query: Query, timestamps: list[pd.Timestamp]
) -> list[tuple]:
    rows = []
    for t in sorted(set(timestamps)):
        for user in users.to_dict("records"):
            if timed and (pd.isna(user["created"]) or user["created"] > t):
                continue
            mine = events[events["uid"].fillna(-1).astype(int) == user["uid"]]
            if query.where is not None and not _holds(query.where, user, mine, t):
                continue
            if query.assuming is not None and not _holds(query.assuming, user, mine, t):
                continue
            target = query.target
            if isinstance(target, (Comparison, IsNull)):
                label = int(_holds(target, user, mine, t))
            elif isinstance(target, Rank):
                label = _aggregate(target.aggregate, mine, t)
            else:
                label = _value(target, user, mine, t)
            if label is not None:
                rows.append((user["uid"], t, label))
    return rows


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(databases(), queries, st.lists(st.integers(-6, 14).map(day), min_size=1, max_size=3))
def test_sql_equals_pandas_reference(data: tuple, query: Query, timestamps: list[pd.Timestamp]) -> None:
    users, events, timed, sessions = data
    tables = {"users": users, "events": events, "items": pd.DataFrame({"iid": range(4)})}
    keys = {"users": "uid", "events": "eid", "items": "iid"}
    fks = {"events": [("uid", "users", "uid"), ("item", "items", "iid")]}
    if sessions is not None:  # two hops: events -> sessions -> users
        tables["sessions"], keys["sessions"] = sessions, "sid"
        fks = {
            "events": [("sid", "sessions", "sid"), ("item", "items", "iid")],
            "sessions": [("uid", "users", "uid")],
        }
        user_of_session = dict(zip(sessions["sid"], sessions["uid"]))
        events = events.assign(uid=pd.array([user_of_session.get(s) for s in events["sid"]], dtype="Int64"))
    db = make_db(tables, keys, fks, {"events": "at", **({"users": "created"} if timed else {})})
    table = make_training_table(db, query, timestamps)
    expected = reference_table(users, events, timed, query, timestamps)
    got = list(zip(table["uid"], table["timestamp"], table["label"]))
    assert [(u, t) for u, t, _ in got] == [(u, t) for u, t, _ in expected], str(query)
    for (_, _, mine), (_, _, theirs) in zip(got, expected):
        if isinstance(theirs, float) or isinstance(mine, float):
            assert mine == pytest.approx(theirs), str(query)
        else:
            assert mine == theirs, str(query)
