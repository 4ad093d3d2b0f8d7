"""relgraph.ask on the tiny shop: answers, backtest, context, evidence, errors, and temporal integrity
(the same answer on the database cut at ``at``; no context label from a window ending after ``at``)."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import relgraph
from relgraph.database import Database
from relgraph.errors import QueryError
from relgraph.query import make_training_table, parse
from relgraph.runs import ask as ask_module
from relgraph.runs import ask_context
from relgraph.runs.ask import AskTimeoutError, ask, draw_context, known_horizon, stratified_sample

BUYS = "PREDICT COUNT(orders.*, 0, 20, days) > 0 FOR EACH customers.customer_id"
SPEND = "PREDICT SUM(orders.amount, 0, 20, days) FOR EACH customers.customer_id"
AT = pd.Timestamp("2023-10-01")


@pytest.fixture(scope="module")
def answer(shop_db: Database) -> pd.DataFrame:
    return ask(shop_db, BUYS, at=AT, explain=True)


def test_answers_every_selected_entity_with_backtest_and_context(answer: pd.DataFrame) -> None:
    assert len(answer) == 60 and answer["customer_id"].is_unique
    assert (answer["timestamp"] == AT).all()
    prob = answer["probability"].to_numpy()
    assert ((prob >= 0) & (prob <= 1)).all() and (np.diff(prob) <= 0).all()  # highest first
    test = answer.attrs["backtest"]
    # The latest 4 periods of 60 customers hold the 200 rows a backtest scores at least.
    assert test["metric"] == "auroc" and test["at"] == (AT - 4 * pd.Timedelta(days=20)).isoformat()
    assert test["rows"] == 240 and test["periods"] == 4 and test["context"]["to"] == "2023-06-23T00:00:00"
    assert 0.5 < test["value"] <= 1 and 0 <= test["trivial"] <= 1
    assert test["text"].startswith("backtest at 2023-07-13: AUROC")
    context = answer.attrs["context"]
    assert context["to"] == "2023-09-11T00:00:00" and context["rows"] == 60 * context["periods"]
    assert set(context["class_balance"]) == {"0", "1"}


def test_evidence_by_table_feature_and_row(answer: pd.DataFrame) -> None:
    evidence = answer.attrs["evidence"]
    assert len(evidence) == ask_module.MAX_EXPLAINED
    first = evidence[0]
    assert first["entity"]["id"] == int(answer["customer_id"].iloc[0])
    assert {t["table"] for t in first["tables"]} <= {"customers", "orders"} and first["features"]
    assert all(r["time"] <= AT.isoformat() for r in first["rows"])  # evidence rows are known at AT
    assert first["summary"][0].startswith(f"customers.customer_id={first['entity']['id']} at 2023-10-01")


def test_ids_top_regression_and_multiclass(shop_db: Database) -> None:
    by_id = ask(shop_db, BUYS, at=AT, ids=[5, "7"], with_backtest=False)
    assert by_id["customer_id"].tolist() == [5, 7] and by_id.attrs["backtest"] is None
    top = ask(shop_db, SPEND, at=AT, top=3)
    assert len(top) == 3 and (np.diff(top["prediction"].to_numpy()) <= 0).all()
    assert top.attrs["backtest"]["metric"] == "mae" and top.attrs["backtest"]["value"] >= 0
    assert "label_mean" in top.attrs["context"]
    kinds = ask(shop_db, "PREDICT FIRST(orders.channel, 0, 20, days) FOR EACH customers.customer_id", at=AT, top=2,
                with_backtest=False)
    assert set(kinds["prediction"]) <= {"web", "app"} and set(kinds.attrs["context"]["class_balance"]) == {"app", "web"}
    assert ((kinds["probability"] >= 0.5) & (kinds["probability"] <= 1)).all()  # the likelier of two classes


def test_the_same_question_about_other_entities_only_predicts(shop_db: Database, answer: pd.DataFrame,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("fitted again")

    monkeypatch.setattr(ask_module.AskModel, "fit", no_fit)
    again = ask(shop_db, BUYS, at=AT, ids=[3, 4])
    assert again.attrs["backtest"] == answer.attrs["backtest"] and again.attrs["context"] == answer.attrs["context"]
    first = answer.set_index("customer_id").loc[[3, 4], "probability"].to_numpy()
    assert np.allclose(again["probability"].to_numpy(), first)


def test_public_api_and_python_defaults(shop_db: Database) -> None:
    assert relgraph.ask is ask
    latest = ask(shop_db, BUYS, top=1, with_backtest=False)  # default at: where the orders end
    assert latest["timestamp"].iloc[0] == pd.Timestamp(shop_db.row_times("orders").max())


def test_default_time_is_where_the_targets_table_ends(shop_db: Database) -> None:
    """Another table running later (a newsletter sent after the last order) does not move the default
    ``at`` past the target's rows, where every customer would look churned."""
    from shop_task import with_late_letters

    orders_end = pd.Timestamp(shop_db.row_times("orders").max())
    db = with_late_letters(shop_db)
    assert pd.Timestamp(db.time_span()[1]) > orders_end + pd.Timedelta(days=89)
    answer = ask(db, BUYS, top=1, with_backtest=False)
    assert answer["timestamp"].iloc[0] == orders_end


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"query": "PREDICT COUNT(orders.*, 0, 20, days > 0 FOR EACH customers.customer_id"}, "PQL syntax"),
    ({"query": "PREDICT COUNT(nope.*, 0, 20, days) > 0 FOR EACH customers.customer_id"}, "nope"),
    ({"query": "PREDICT LIST_DISTINCT(orders.customer_id, 0, 20, days) RANK TOP 2 FOR EACH customers.customer_id"},
     "ask does not answer ranking queries yet"),
    ({"ids": [999]}, "unknown id 999"),
    ({"ids": [1], "top": 2}, "ids or top, not both"),
    ({"at": "2022-01-01"}, "outside the database's time range"),
    ({"at": "2023-01-10"}, "no label window"),
    ({"at": "yesterday-ish"}, "is not a timestamp"),
])
def test_bad_input_says_what_in_its_first_line(shop_db: Database, kwargs: dict, message: str) -> None:
    args = {"query": BUYS, "at": AT, **kwargs}
    with pytest.raises(QueryError) as err:
        ask(shop_db, args.pop("query"), **args)
    assert message in str(err.value).splitlines()[0]  # a syntax error adds the query and a caret below


def test_time_limit(shop_db: Database) -> None:
    with pytest.raises(AskTimeoutError, match="longer than its 0 s limit"):
        ask(shop_db, BUYS, at=AT, time_limit_s=0.0)


def test_stratified_sample_keeps_every_period_and_class() -> None:
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2023-01-01", periods=8, freq="7D")
    context = pd.DataFrame({"id": np.tile(np.arange(500), 8), "timestamp": np.repeat(stamps, 500),
                            "label": (rng.random(4000) < 0.02).astype(int)})
    sample = stratified_sample(context, 400, "binary", seed=1)
    assert abs(len(sample) - 400) <= 8 and set(sample["timestamp"]) == set(stamps)
    per_period = sample.groupby("timestamp")["label"].sum()
    assert (per_period >= np.minimum(context.groupby("timestamp")["label"].sum(), 400 // 8 // 4)).all()
    assert sample["label"].mean() > context["label"].mean()  # the rare class is kept, not diluted
    assert len(stratified_sample(context, 5000, "binary")) == 4000


def test_context_budget_grows_to_the_latest_periods_whole(shop_db: Database) -> None:
    parsed = parse(BUYS)
    fixed = draw_context(shop_db, parsed, AT, rows=100, grow_to=100)
    grown = draw_context(shop_db, parsed, AT, rows=100, grow_to=1000)
    capped = draw_context(shop_db, parsed, AT, rows=100, grow_to=300)
    latest = pd.to_datetime(grown["timestamp"]).drop_duplicates().nlargest(ask_module.MIN_PERIODS)
    assert abs(len(fixed) - 100) <= 6 and abs(len(capped) - 300) <= 6
    # The latest MIN_PERIODS periods, every labelled row of them (60 customers each), and no earlier one.
    assert grown["timestamp"].nunique() == ask_module.MIN_PERIODS and len(grown) == 60 * ask_module.MIN_PERIODS
    assert set(pd.to_datetime(grown["timestamp"])) == set(latest)
    assert (pd.to_datetime(grown["timestamp"]) + known_horizon(parsed) <= AT).all()


# ---------------------------------------------------------------- temporal integrity
def test_same_answer_on_the_database_cut_at_at(shop_db: Database, answer: pd.DataFrame) -> None:
    cut = ask(shop_db.cut(np.datetime64(AT)), BUYS, at=AT, explain=True)
    pd.testing.assert_frame_equal(cut, answer)
    for name in ("backtest", "context", "evidence"):
        # Feature values may differ in the last bit (DuckDB's summation order over other rows).
        assert _rounded(cut.attrs[name]) == _rounded(answer.attrs[name]), name


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _late_labels(db: Database, query: str, at: pd.Timestamp) -> int:
    """Context rows whose label window ends after ``at``, or whose label differs once the rows
    after ``at`` are deleted."""
    parsed = parse(query)
    context = draw_context(db, parsed, at)
    late = int((pd.to_datetime(context["timestamp"]) + known_horizon(parsed) > at).sum())
    again = make_training_table(db.cut(np.datetime64(at)), parsed, context["timestamp"].unique())
    merged = context.merge(again, on=["customer_id", "timestamp"], how="left", suffixes=("", "_cut"))
    return late + int((merged["label"] != merged["label_cut"]).sum())


def test_no_context_label_is_known_only_after_at(shop_db: Database) -> None:
    for query in (BUYS, SPEND):
        assert _late_labels(shop_db, query, AT) == 0


def test_the_context_check_has_teeth(shop_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # A context ending one horizon later reads labels of windows that end after AT: the check sees it.
    monkeypatch.setattr(ask_context, "context_end", lambda at, horizon: pd.Timestamp(at))
    assert _late_labels(shop_db, BUYS, AT) > 0


# ---------------------------------------------------------------- one feature pass
def test_one_builder_fitted_before_the_backtest_serves_both_models(shop_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    fitted_on: list[pd.DataFrame] = []
    real = ask_module.fit_features

    def spy(db: Database, task: object, workers: int = 1) -> object:
        fitted_on.append(task.train)  # type: ignore[attr-defined]
        return real(db, task, workers)  # type: ignore[arg-type]

    monkeypatch.setattr(ask_module, "fit_features", spy)
    back, model, pred = ask_module.fit_answer(shop_db, parse(BUYS), AT, pd.DataFrame({"customer_id": [1, 2], "timestamp": AT}),
                                              ask_module.CONTEXT_ROWS, 0, 1, with_backtest=True)
    assert back is not None and back["value"] is not None and model is not None and len(pred) == 2
    # Once, on labels known by the backtest's time (earlier than at): the answer's builder sees no later row.
    assert len(fitted_on) == 1
    horizon = known_horizon(parse(BUYS))
    assert pd.to_datetime(fitted_on[0]["timestamp"]).max() + horizon <= pd.Timestamp(back["at"]) < AT
    assert model.model_ is not None and np.allclose(pred, model.predict(shop_db, pd.DataFrame({"customer_id": [1, 2], "timestamp": AT})))


def test_features_of_equals_one_transform_per_frame(shop_db: Database) -> None:
    model = ask_module.AskModel(BUYS).fit(shop_db, AT)
    assert model.model_ is not None and model.task_ is not None
    builder = model.model_.builder
    frames = [model.task_.val, model.task_.train.head(30), model.task_.val.head(5)]  # overlapping rows on purpose
    together = ask_module.features_of(shop_db, builder, "customer_id", frames)
    for frame, got in zip(frames, together):
        alone = builder.transform(shop_db, frame, "customer_id")
        pd.testing.assert_frame_equal(got.reset_index(drop=True), alone.reset_index(drop=True), check_exact=False, rtol=1e-9)


def test_two_fits_side_by_side_give_the_one_thread_answer(shop_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """With two threads the backtest's and the answer's models are fitted at once, one thread each:
    the same answer and backtest as one thread fitting them in turn."""
    threads: set[str] = set()
    fit = ask_module.AskModel.fit

    def recording_fit(self: ask_module.AskModel, *args: object, **kwargs: object) -> ask_module.AskModel:
        threads.add(threading.current_thread().name)
        assert self.num_threads == 1
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(ask_module.AskModel, "fit", recording_fit)
    one = ask(shop_db, SPEND, at=AT, num_threads=1, seed=3)  # a seed no other test asked: not remembered
    assert len(threads) == 1
    threads.clear()
    two = ask(shop_db, SPEND, at=AT, num_threads=2, seed=3)
    assert len(threads) == 2 and threading.current_thread().name not in threads
    assert np.array_equal(one["prediction"].to_numpy(), two["prediction"].to_numpy())
    assert one.attrs["backtest"] == two.attrs["backtest"]


def test_builders_fitted_side_by_side_give_the_one_thread_features(monkeypatch: pytest.MonkeyPatch) -> None:
    """With two workers the aggregates and the current parents are fitted on two threads, each on
    its own SQL connection: the same features, to the last bit, as one thread fitting them in turn
    (fresh databases each time, so no cache is shared between the two)."""
    from shop_task import shop_database

    from relgraph.baselines.current_parents import CurrentParents
    from relgraph.baselines.extra_columns import WithColumns
    from relgraph.baselines.feature_small import numpy_path

    threads: list[str] = []
    fit = CurrentParents.fit

    def recording_fit(self: CurrentParents, *args: object, **kwargs: object) -> CurrentParents:
        threads.append(threading.current_thread().name)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(CurrentParents, "fit", recording_fit)
    features = []
    for workers in (1, 2):
        db = shop_database(seed=4, stores=True)
        model = ask_module.AskModel(BUYS).draw(db, AT)
        assert model.task_ is not None
        with numpy_path(ask_module.ASK_NUMPY_ROWS):  # as answers compute them
            builder, x = ask_module.fit_features(db, model.task_, workers)
        assert isinstance(builder, WithColumns) and any(c.startswith("current_stores.") for c in x.columns)
        features.append(x)
    assert threads[0] == threading.current_thread().name and threads[1] != threads[0]
    pd.testing.assert_frame_equal(features[0], features[1], check_exact=True)


def test_ask_depth_follows_the_stream_work(monkeypatch: pytest.MonkeyPatch, shop_db: Database) -> None:
    """Depth 2 where the depth-2 streams are small; depth 1 past ``ASK_DEPTH2_CELLS``."""
    from relgraph.baselines.aggregates import TemporalFeatureBuilder

    cells = TemporalFeatureBuilder(depth=2).stream_cells(shop_db, "customers")
    orders = shop_db.tables["orders"]
    assert cells == orders.num_rows * 2  # the orders stream: amount, channel
    assert ask_module.ask_depth(shop_db, "customers") == 2
    monkeypatch.setattr(ask_module, "ASK_DEPTH2_CELLS", cells - 1)
    assert ask_module.ask_depth(shop_db, "customers") == 1


def test_a_backtest_no_better_than_trivial_says_so(shop_db: Database) -> None:
    """The backtest's text warns in words when the answers score no better than the trivial
    baseline (here: the backtest model's scores turned upside down)."""
    query = parse(BUYS)
    rows, record = ask_module._backtest_rows(shop_db, query, AT, 0)
    early = ask_module.AskModel(query).fit(shop_db, pd.Timestamp(record["at"]))
    good = early.predict(shop_db, rows)
    scored = ask_module._scored_backtest(shop_db, early, rows, good, dict(record))
    assert scored["beats_trivial"] and "NO BETTER" not in scored["text"]
    worse = ask_module._scored_backtest(shop_db, early, rows, 1 - good, dict(record))
    assert not worse["beats_trivial"] and worse["value"] < worse["trivial"]
    assert worse["text"].endswith("NO BETTER than the trivial baseline: do not act on these answers")
