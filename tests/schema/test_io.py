"""Schema files: overrides, errors naming missing things, and write -> read round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgraph.errors import SchemaError
from relgraph.schema import SType, build_schema, load_schema_file, schema_to_dict, write_schema


@pytest.fixture
def f1_like(source_factory):
    return source_factory(
        {
            "races": {
                "raceId": [1, 2],
                "date": ["2009-03-29", "2009-04-05"],
                "time": ["06:00:00", "09:00:00"],
                "fp1_date": ["2009-03-27", "2009-04-03"],
            },
            "drivers": {"driverId": [1, 2], "dob": ["1985-01-07", "1977-05-10"]},
            "results": {
                "resultId": [1, 2, 3],
                "raceId": [1, 1, 2],
                "driverId": [1, 2, 1],
                "statusId": [1, 2, 1],
                "wonId": [1, 2, 2],
            },
        }
    )


def write(tmp_path: Path, text: str, name: str = "schema.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_file_overrides_keys_times_and_stypes(tmp_path, f1_like):
    path = write(
        tmp_path,
        """
[tables.races]
time = { column = "fp1_date" }
[tables.drivers]
time = "dob"
[tables.results]
primary_key = false
foreign_keys = [ { column = "wonId", references = "drivers.driverId" } ]
time = { inherit_via = "wonId" }
[tables.results.stypes]
statusId = "categorical"
""",
    )
    schema = build_schema(f1_like, schema_file=path)
    assert schema["races"].time.column == "fp1_date" and schema["races"].time.time_of_day_column is None
    assert schema["drivers"].time.column == "dob" and not schema["drivers"].time.inferred
    results = schema["results"]
    assert results.primary_key is None
    assert [(fk.column, fk.references_table, fk.inferred) for fk in results.foreign_keys] == [
        ("wonId", "drivers", False)
    ]
    assert (results.time.inherited_via, results.time.parent_table, results.time.inferred) == (
        "wonId",
        "drivers",
        False,
    )
    assert {c.name: c.stype for c in results.columns}["statusId"] is SType.CATEGORICAL


def test_file_can_make_a_table_static_and_pick_a_parent(tmp_path, source_factory):
    data = source_factory(
        {
            "a": {"a_id": [1, 2], "created": ["2020-01-01", "2020-01-02"]},
            "b": {"b_id": [1, 2], "created": ["2021-01-01", "2021-01-02"]},
            "links": {"link_id": [1, 2], "a_id": [1, 2], "b_id": [2, 1]},
        }
    )
    path = write(tmp_path, '[tables.a]\ntime = false\n[tables.links]\ntime = { inherit_via = "b_id" }\n')
    schema = build_schema(data, schema_file=path)
    assert schema["a"].time is None and "time = false" in schema["a"].time_evidence
    assert schema["links"].time.parent_table == "b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tables.race]\ntime = false\n", r"table 'race' does not exist \(did you mean 'races'\?\)"),
        (
            '[tables.races]\nprimary_key = "raceID"\n',
            r"column races\.raceID does not exist \(did you mean 'raceId'\?\)",
        ),
        ('[tables.races]\ntime = "dat"\n', r"column races\.dat does not exist \(did you mean 'date'\?\)"),
        (
            '[tables.results]\nforeign_keys = [{ column = "raceId", references = "race.raceId" }]\n',
            r"results\.raceId references missing table 'race' \(did you mean 'races'\?\)",
        ),
        (
            '[tables.results]\nforeign_keys = [{ column = "raceId", references = "races.race_id" }]\n',
            r"results\.raceId references missing column races\.race_id \(did you mean 'raceId'\?\)",
        ),
        ('[tables.results.stypes]\nstatus_id = "categorical"\n', r"column results\.status_id does not exist"),
        (
            '[tables.results.stypes]\nstatusId = "categoric"\n',
            r"unknown stype 'categoric' \(did you mean 'categorical'\?\)",
        ),
        (
            '[tables.results]\nprimary = "resultId"\n',
            r"unknown key 'primary' \(did you mean 'primary_key'\?\)",
        ),
        (
            '[tables.results]\nprimary_key = ["driverId", "statusId"]\n',
            r"^results\.\(driverId, statusId\): composite primary key has 1 duplicate rows",
        ),
        (
            '[tables.results]\nprimary_key = "statusId"\n',
            r"^results\.statusId: primary key has 1 duplicate values",
        ),
        ('[tables.races]\ntime = "fp1_date"\n[tables.races.stypes]\n', None),
        (
            '[tables.results]\ntime = { inherit_via = "statusId" }\n',
            r"results\.time inherit_via 'statusId' is not a foreign key of results",
        ),
        (
            '[tables.races]\ntime = { column = "date", time_of_day = "fp1_date" }\n',
            r"^races\.fp1_date: 2 clock times do not parse, e\.g\. '2009-03-27'",
        ),
        ("[tables.races\n", r"not valid TOML"),
    ],
)
def test_schema_file_errors_are_one_line(tmp_path, f1_like, text, message):
    path = write(tmp_path, text)
    if message is None:  # control: a valid file passes
        assert build_schema(f1_like, schema_file=path)["races"].time.column == "fp1_date"
        return
    with pytest.raises(SchemaError, match=message) as err:
        build_schema(f1_like, schema_file=path)
    assert "\n" not in str(err.value)


def test_unparsable_values_in_a_file_named_time_column(tmp_path, source_factory):
    data = source_factory({"t": {"t_id": [1, 2], "when": ["2020-01-01", "31/12/2020"]}})
    with pytest.raises(SchemaError, match=r"^t\.when: 1 time values do not parse, e\.g\. '31/12/2020'"):
        build_schema(data, schema_file=write(tmp_path, '[tables.t]\ntime = "when"\n'))


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(SchemaError, match=r"use a \.toml, \.yaml or \.yml file"):
        load_schema_file(write(tmp_path, "tables: {}", "schema.json"))
    with pytest.raises(SchemaError, match=r"cannot read it"):
        load_schema_file(tmp_path / "absent.toml")


@pytest.mark.parametrize("name", ["schema.toml", "schema.yaml"])
def test_written_schema_reproduces_itself(tmp_path, source_factory, name):
    data = source_factory(
        {
            "races": {"raceId": [1, 2], "date": ["2009-03-29", "2009-04-05"], "time": ["06:00:00", None]},
            "results": {"resultId": [1, 2, 3], "raceId": [1, 1, 2], "points": [1.0, 2.0, 3.0]},
            "order": {"order_id": [1], "größe": ["x"]},
        }
    )
    inferred = build_schema(data)
    path = tmp_path / name
    write_schema(inferred, path)
    reread = build_schema(data, schema_file=path)
    assert schema_to_dict(reread) == schema_to_dict(inferred)
    assert reread["results"].time.inherited_via == "raceId" and not reread["results"].time.inferred
    assert reread["races"].time.time_of_day_column == "time"
    assert "größe" in path.read_text(encoding="utf-8")
