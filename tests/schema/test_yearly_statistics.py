"""Yearly statistics (the Lahman baseball database's shape): rows keyed by (entity, season) with a
bare year as their only time, a people table keyed by a row number beside the id everyone uses,
composite (season, team) references and ids without a table of their own.

Before: every statistics table was static (its ``yearID`` became an entity table of years), and
people were keyed by their row number, with a made table of player ids beside them.
"""

from __future__ import annotations

from conftest import make_source

from relgraph.database import Database
from relgraph.schema import build_schema

YEARS = list(range(2001, 2007))
TEAMS = ["BOS", "NYA", "SEA"]
PLAYERS = [f"player{i:02d}" for i in range(8)]


def yearly_source():
    seasons = [(y, t) for y in YEARS for t in TEAMS]
    lines = [(p, y, TEAMS[(i + y) % 3], (i * y) % 40) for y in YEARS for i, p in enumerate(PLAYERS)]
    return make_source({
        "franchises": {"franchID": [f"F{t}" for t in TEAMS], "name": ["Red Sox", "Yankees", "Mariners"]},
        "Teams": {"yearID": [y for y, _ in seasons], "teamID": [t for _, t in seasons],
                  "franchID": [f"F{t}" for _, t in seasons], "W": [60 + (y * 7 + len(t)) % 40 for y, t in seasons]},
        # two halves per team season: only the composite (yearID, teamID) reference ties it to anything
        "TeamsHalf": {"yearID": [y for y, _ in seasons for _ in (1, 2)], "teamID": [t for _, t in seasons for _ in (1, 2)],
                      "half": [h for _ in seasons for h in (1, 2)], "W": [30 + (y + h) % 10 for y, _ in seasons for h in (1, 2)]},
        "People": {"ID": list(range(1, len(PLAYERS) + 1)), "playerID": PLAYERS,
                   "nameFirst": [f"First{i}" for i in range(len(PLAYERS))],
                   "debut": [f"{2001 + i % 4}-04-0{1 + i % 5}" for i in range(len(PLAYERS))]},
        "Batting": {"playerID": [p for p, *_ in lines], "yearID": [y for _, y, *_ in lines],
                    "teamID": [t for *_, t, _ in lines], "HR": [h for *_, h in lines]},
        # umpires have no table of their own: only their ids repeat over seasons
        "Umpiring": {"umpireID": [f"ump{i % 4}" for i in range(24)], "yearID": [YEARS[i % 6] for i in range(24)],
                     "games": [10 + i for i in range(24)]},
    })


def test_a_row_number_id_gives_way_to_the_id_other_tables_use() -> None:
    schema = build_schema(yearly_source())
    people = schema["People"]
    assert people.primary_key == "playerID", people.primary_key_evidence
    assert "ID (no table points into it) is a plain column" in people.primary_key_evidence
    batting = {fk.column: (fk.references_table, fk.references_column) for fk in schema["Batting"].foreign_keys}
    assert batting["playerID"] == ("People", "playerID")
    assert "playerID" not in schema.tables  # no made table beside People


def test_a_bare_season_year_is_the_row_time_of_yearly_statistics() -> None:
    schema = build_schema(yearly_source())
    for name in ("Teams", "TeamsHalf", "Batting", "Umpiring"):
        time = schema[name].time
        assert time is not None and time.column == "yearID" and time.inherited_via is None, (name, schema[name].time_evidence)
    assert "rows per Teams row" in schema["TeamsHalf"].time.evidence  # only its composite reference says so
    assert "rows per umpireID row" in schema["Umpiring"].time.evidence  # ids that become a table
    assert "yearID" not in schema.tables  # a year is a time, not an entity
    assert all(fk.column != "yearID" for t in schema.tables.values() for fk in t.foreign_keys)


def test_a_season_counts_from_its_end() -> None:
    """A row of season 2004 counts from the end of 2004: cut at mid-2004, the database holds
    seasons up to 2003 only, in every yearly table."""
    source = yearly_source()
    db = Database(source, build_schema(source))
    times = db.row_times("Batting")
    years = db.table("Batting").column("yearID").to_numpy()
    assert all(str(t)[:10] == f"{y}-12-31" for t, y in zip(times, years, strict=True))
    cut = db.cut("2004-06-30")
    for name in ("Teams", "TeamsHalf", "Batting", "Umpiring"):
        assert set(cut.table(name).column("yearID").to_pylist()) == {2001, 2002, 2003}, name
