"""``relgraph inspect`` end to end on CSV folders written by the test (real connector, no mocks)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from relgraph.cli.main import main


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """customers, order (a reserved word), größe (non-ASCII), items referencing order."""
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "customers.csv").write_text("customer_id,name,dob\n1,Ann,1980-01-02\n2,Bo,1990-03-04\n")
    (folder / "order.csv").write_text(
        'order_id,customer_id,"group",created_at\n1,1,a,2024-01-01 10:00:00\n2,2,b,2024-01-02 11:00:00\n3,2,a,2024-01-03 12:00:00\n'
    )
    (folder / "größe.csv").write_text(
        "größe_id,order_id,menge\n1,1,3\n2,3,1\n3,3,2\n4,9,1\n5,1,1\n", encoding="utf-8"
    )
    return folder


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def inspect_json(capsys, *args: str) -> dict:
    assert main(["inspect", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_shape_and_content(shop, capsys):
    doc = inspect_json(capsys, str(shop))
    tables = {t["name"]: t for t in doc["tables"]}
    assert set(tables) == {"customers", "order", "größe"}
    for table in doc["tables"]:
        assert {"name", "rows", "primary_key", "time_column", "columns", "foreign_keys", "time"} <= set(table)
        for column in table["columns"]:
            assert {"name", "dtype", "stype"} <= set(column)
        for fk in table["foreign_keys"]:
            assert {"column", "references_table", "references_column", "inferred", "coverage"} <= set(fk)
    order = tables["order"]
    assert (order["rows"], order["primary_key"], order["time_column"]) == (3, "order_id", "created_at")
    assert {c["name"]: c["stype"] for c in order["columns"]}["group"] == "categorical"
    assert tables["customers"]["time"] is None and "birth date" in tables["customers"]["time_evidence"]
    (fk,) = tables["größe"]["foreign_keys"]
    assert (fk["column"], fk["references_table"], fk["references_column"], fk["inferred"]) == (
        "order_id",
        "order",
        "order_id",
        True,
    )
    assert fk["coverage"] == pytest.approx(0.8) and fk["dangling"] == 1
    assert tables["größe"]["time_column"] is None
    assert (
        tables["größe"]["time"]["inherited_via"] == "order_id"
        and tables["größe"]["time"]["parent_table"] == "order"
    )
    assert any(w.startswith("größe.order_id: 1 values") for w in doc["warnings"])


def test_text_report(shop, capsys):
    assert main(["inspect", str(shop)]) == 0
    out = capsys.readouterr().out
    assert "order  (3 rows)" in out
    assert "primary key   order_id  [inferred: unique, non-null" in out
    assert "customer_id -> customers.customer_id  coverage 100.0%  [inferred: same name" in out
    assert "order.created_at via order_id (inherited)" in out
    assert "warnings\n  - größe.order_id: 1 values" in out


def structure(doc: dict) -> list[dict]:
    """A report without evidence and inferred flags: what a written schema file must reproduce."""
    out = []
    for t in doc["tables"]:
        time = t["time"] and {
            k: t["time"][k] for k in ("column", "time_of_day_column", "inherited_via", "parent_table")
        }
        out.append(
            {
                "name": t["name"],
                "rows": t["rows"],
                "primary_key": t["primary_key"],
                "time_column": t["time_column"],
                "time": time,
                "columns": [{k: c[k] for k in ("name", "dtype", "stype")} for c in t["columns"]],
                "foreign_keys": [
                    {k: v for k, v in fk.items() if k not in ("inferred", "evidence")}
                    for fk in t["foreign_keys"]
                ],
            }
        )
    return out


def test_write_schema_then_edit_and_read_it_back(shop, tmp_path, capsys):
    written = tmp_path / "shop.toml"
    first = inspect_json(capsys, str(shop), "--write-schema", str(written))
    text = written.read_text(encoding="utf-8")
    inherit = '[tables."größe".time]\ninherit_via = "order_id"\n'
    assert '[tables."größe"]' in text and inherit in text
    reread = inspect_json(capsys, str(shop), "--schema", str(written))
    assert structure(reread) == structure(first)
    assert not any(fk["inferred"] for t in reread["tables"] for fk in t["foreign_keys"])
    static = text.replace(inherit, "").replace(
        'primary_key = "größe_id"\n', 'primary_key = "größe_id"\ntime = false\n'
    )
    written.write_text(static, encoding="utf-8")
    edited = {t["name"]: t for t in inspect_json(capsys, str(shop), "--schema", str(written))["tables"]}
    assert edited["größe"]["time"] is None


@pytest.mark.parametrize(
    ("schema_text", "message"),
    [
        ("[tables.orders]\ntime = false\n", "table 'orders' does not exist (did you mean 'order'?)"),
        (
            '[tables.order.stypes]\ngroups = "text"\n',
            "column order.groups does not exist (did you mean 'group'?)",
        ),
        (
            '[tables.order]\nprimary_key = "customer_id"\n',
            "order.customer_id: primary key has 1 duplicate values",
        ),
        ('[tables.order]\ntime = "group"\n', "order.group: 3 time values do not parse, e.g. 'a'"),
        (
            '[tables.order]\nprimary_key = ["customer_id"]\n',
            "order.primary_key: a composite key is a list of two or more distinct column names",
        ),
    ],
)
def test_bad_schema_files_fail_in_one_line_and_touch_nothing(shop, tmp_path, capsys, schema_text, message):
    path = tmp_path / "bad.toml"
    path.write_text(schema_text, encoding="utf-8")
    before = folder_digest(shop)
    assert main(["inspect", str(shop), "--schema", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("relgraph: error: ") and message in err and err.count("\n") == 1
    assert folder_digest(shop) == before
