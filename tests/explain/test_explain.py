"""``relgraph.runs.explain`` on every model kind (GNN, LightGBM, blend, both rankers) of a tiny demo shop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relgraph.cli.main import main
from relgraph.runs.explain import explain, load_run
from relgraph.runs.tasks import prediction_rows

AT = pd.Timestamp("2024-06-01")


def _db_and_ids(run, db_path: Path, n: int = 2) -> tuple:
    db = run.connect(f"sqlite:///{db_path}")
    rows = prediction_rows(db, run.query, run.entity_table, run.entity_key, AT)
    return db, rows[run.entity_key].tolist()[:n]


def _rows_before(exp: dict, at: pd.Timestamp) -> None:
    for r in exp["rows"]:
        assert r["time"] is None or pd.Timestamp(r["time"]) <= at, r


def test_lightgbm_treeshap_sums_to_the_raw_prediction_and_groups_by_table(blend_run: Path, shop_db_path: Path) -> None:
    run = load_run(blend_run, "lightgbm")
    db, ids = _db_and_ids(run, shop_db_path)
    exp = explain(run, db, ids[:1], AT)[0]
    model = run.model
    x = model.builder.transform(db, pd.DataFrame({"customer_id": ids[:1], "timestamp": [AT]}), "customer_id")
    raw = np.mean([b.predict(x, num_iteration=it, raw_score=True)[0] for b, it in zip(model.boosters_, model.meta_["iterations"])])
    total = sum(f["contribution"] for f in exp["features"])
    assert exp["base_value"] + total == pytest.approx(raw, abs=1e-6)  # TreeSHAP is exact
    assert sum(t["contribution"] for t in exp["tables"]) == pytest.approx(total, abs=1e-9)
    assert {t["table"] for t in exp["tables"]} <= set(db.tables)
    assert exp["prediction"]["probability"] == pytest.approx(model.predict(db, pd.DataFrame({"customer_id": ids[:1], "timestamp": [AT]}))[0])
    assert exp["rows"] and all("key" in r and "time" in r for r in exp["rows"])
    assert any(f.get("text") for f in exp["features"][:5])
    _rows_before(exp, AT)


def test_gnn_occlusion_by_row_table_and_hop(blend_run: Path, shop_db_path: Path) -> None:
    run = load_run(blend_run, "gnn")
    db, ids = _db_and_ids(run, shop_db_path)
    exp = explain(run, db, ids[:1], AT)[0]
    prob = exp["prediction"]["probability"]
    assert 1 / (1 + np.exp(-exp["base_value"])) == pytest.approx(prob, abs=1e-5)  # same subgraph as predict
    assert exp["tables"] and exp["hops"] and exp["rows"]
    assert {r["table"] for r in exp["rows"]} <= set(db.tables)
    assert all(r["key"] is not None for r in exp["rows"])
    _rows_before(exp, AT)


def test_blend_weights_its_members(blend_run: Path, shop_db_path: Path) -> None:
    run = load_run(blend_run)
    assert run.kind == "blend"
    db, ids = _db_and_ids(run, shop_db_path)
    exp = explain(run, db, ids[:1], AT)[0]
    w = exp["weights"]["gnn"]
    members = exp["members"]
    for t in exp["tables"]:
        expected = sum(wt * next((m["contribution"] for m in members[k]["tables"] if m["table"] == t["table"]), 0.0)
                       for k, wt in (("gnn", w), ("lightgbm", 1 - w)))
        assert t["contribution"] == pytest.approx(expected, abs=1e-9)
    assert exp["summary"][0].startswith("customers.customer_id=")


@pytest.mark.parametrize("kind", ["lightgbm", "gnn", "blend"])
def test_rows_after_at_change_nothing(blend_run: Path, shop_db_path: Path, kind: str) -> None:
    run = load_run(blend_run, kind)
    db, ids = _db_and_ids(run, shop_db_path)
    full = explain(run, db, ids[:1], AT)[0]
    past = explain(run, db.cut(AT), ids[:1], AT)[0]  # the same database before the later rows were added

    def rows(e: dict) -> list:
        return [(r["table"], r["key"], round(r["contribution"], 9)) for r in e["rows"]]

    assert full["prediction"] == pytest.approx(past["prediction"])
    assert [(t["table"], round(t["contribution"], 9)) for t in full["tables"]] == \
        [(t["table"], round(t["contribution"], 9)) for t in past["tables"]]
    assert rows(full) == rows(past)


@pytest.mark.parametrize("kind", ["gnn", "lightgbm"])
def test_ranking_explains_each_top_target(rank_run: Path, shop_db_path: Path, kind: str) -> None:
    run = load_run(rank_run, kind)
    db, ids = _db_and_ids(run, shop_db_path)
    exp = explain(run, db, ids[:1], AT)[0]
    assert [t["target"] for t in exp["targets"]] == exp["prediction"]["prediction"]
    for t in exp["targets"]:
        assert all(pd.Timestamp(e["time"]) <= AT for e in t["events"])
    if kind == "lightgbm":
        assert all(t.get("features") for t in exp["targets"])
        assert exp["tables"]


def test_cli_explain_text_json_and_errors(blend_run: Path, shop_db_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = f"sqlite:///{shop_db_path}"
    run = load_run(blend_run)
    _, ids = _db_and_ids(run, shop_db_path)
    assert main(["explain", source, "--model", str(blend_run), "--id", str(ids[0]), "--at", str(AT.date())]) == 0
    text = capsys.readouterr().out
    assert "by table" in text and f"customer_id={ids[0]}" in text
    assert main(["explain", source, "--model", str(blend_run), "--id", str(ids[0]), "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["entity"]["id"] == ids[0] and parsed["tables"]
    assert main(["explain", source, "--model", str(blend_run), "--id", "999999"]) == 1
    assert main(["explain", source, "--model", str(blend_run), "--id", str(ids[0]), "--at", "not-a-time"]) == 1
    assert main(["explain", source, "--model", str(blend_run), "--id", str(ids[0]), "--at", "1990-01-01"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("relgraph: error: ") for line in err)


def test_recency_of_a_value_reads_its_latest_row(shop_db_path: Path) -> None:
    """``orders.channel.web.days_since_last``: the evidence is the latest web order, and the text
    says so; a dominant-value recency (``ne<v>``) reads the rows off the value."""
    import relgraph
    from relgraph.baselines.aggregates import TemporalFeatureBuilder
    from relgraph.runs.explain.tabular import (
        FeatureSource,
        _selects,
        describe_feature,
        evidence_rows,
        feature_sources,
    )

    db = relgraph.connect(f"sqlite:///{shop_db_path}")
    orders = db.table("orders").to_pandas()
    web = orders[(orders["channel"] == "web") & (orders["ordered_at"] <= AT)]
    customer = web["customer_id"].value_counts().index[0]
    frame = pd.DataFrame({"customer_id": [customer], "timestamp": [AT]})
    builder = TemporalFeatureBuilder(depth=1, max_features=None, include=r"channel\.web\.days_since_last$")
    x = builder.fit_transform(db, "customers", frame)
    src = feature_sources(builder, db)["orders.channel.web.days_since_last"]
    assert (src.value_tag, src.negated, src.last_n) == ("web", False, None)
    latest = web[web["customer_id"] == customer].sort_values("ordered_at").iloc[-1]
    assert x.iloc[0, 0] == pytest.approx((AT - latest["ordered_at"]) / pd.Timedelta(days=1))
    ev = evidence_rows(db, src, customer, AT)
    ev = ev[[_selects(src, v) for v in ev["value"]]]
    assert ev.iloc[0]["key"] == latest["order_id"]
    text = describe_feature(src, x.iloc[0, 0], ev.head(1))
    assert text.startswith("the last orders row with channel = web was ") and str(latest["order_id"]) in text
    off = FeatureSource("results.statusId.ne1.days_since_last", "results", "statusId", "results", None, None, None,
                        "1", None, negated=True)
    assert [_selects(off, v) for v in (1, 11, None)] == [False, True, True]
    assert describe_feature(off, 12.0, None).startswith("the last results row with statusId != 1 was 12")
