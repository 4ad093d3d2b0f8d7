"""No traceback reaches a user: on small messy CSV / Parquet folders, ``inspect``, ``query --explain``
and ``train`` (GNN one epoch, LightGBM, auto) either succeed or stop with ``relgraph: error:``.

The folders are what newcomers bring: nulls anywhere (keys, times, values), all-null and constant
columns, several types in one column, duplicated rows, unicode and whitespace in table and column
names, empty and header-only files, one-row tables. Commands run in process (``main``), so any
exception that escapes is a traceback the user would have seen, and the last-resort line of
``cli/main.py`` ("internal error ... please report it") counts as one too. ``RELGRAPH_FUZZ_EXAMPLES``
sets the number of examples for a longer search.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from relgraph.cli.main import main

EXAMPLES = int(os.environ.get("RELGRAPH_FUZZ_EXAMPLES", "0"))
ENTITY_NAMES = ["users", "Üsers", "my users", "users "]
KEY_NAMES = ["user_id", "Ïd", "user id", " user_id"]
EVENT_NAMES = ["events", "évents", "click events", "Events_2024"]
TIME_NAMES = ["created_at", "date", "Zeit stempel"]
START = pd.Timestamp("2024-01-01")
#: Values of a column holding several types (numbers, words, dates, placeholders).
MIXED = ["1", "x", "2.5", None, "2020-01-01", "NaN", "-", " ", "ß"]
FAST_GNN = ["--epochs", "1", "--hidden", "8", "--fanouts", "2", "--threads", "1", "--batch-size", "16", "--quiet"]


@dataclass
class Folder:
    entity: str
    key: str
    events: str
    files: dict[str, pd.DataFrame]  # file name -> contents (None-able object columns)
    extra: dict[str, bytes]  # files written as given (empty, header only)
    parquet: bool

    def write(self, folder: Path) -> None:
        for name, frame in self.files.items():
            if self.parquet:
                typed = frame.convert_dtypes()  # ints with nulls stay integers; mixed columns become strings
                typed.astype({c: "string" for c in typed.columns if typed[c].dtype == object}).to_parquet(
                    folder / f"{name}.parquet", index=False)
            else:
                frame.to_csv(folder / f"{name}.csv", index=False)
        for name, data in self.extra.items():
            (folder / name).write_bytes(data)

    def names(self) -> list[str]:
        """What an error may point at: the tables, the entity key and the extra files (generic column
        names such as ``empty`` would match ordinary words)."""
        return [self.entity, self.events, self.key, *self.extra]

    @property
    def query(self) -> str:
        return f"PREDICT COUNT({quote(self.events)}.*, 0, 14, days) > 0 FOR EACH {quote(self.entity)}.{quote(self.key)}"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@st.composite
def folders(draw: st.DrawFn, trainable: bool = False) -> Folder:
    """A messy two-table folder; ``trainable``: one whose entity key and event times stay usable
    (clean key, a time column by name, enough events), so that training gets as far as fitting."""
    entity, key = draw(st.sampled_from(ENTITY_NAMES)), draw(st.sampled_from(KEY_NAMES))
    events, time = draw(st.sampled_from(EVENT_NAMES)), draw(st.sampled_from(TIME_NAMES[: 2 if trainable else 3]))
    n_users = 12 if trainable else draw(st.sampled_from([0, 1, 2, 12]))
    n_events = 80 if trainable else draw(st.sampled_from([0, 1, 5, 80]))

    def maybe_null(values: list, chance: int, never_all: bool = False) -> list:
        """Nulls in some positions: none, a few or every one (``chance``: weight of none)."""
        how = draw(st.sampled_from(["none"] * chance + ["some"] + ([] if never_all else ["all"])))
        if how == "none" or not values:
            return values
        if how == "all":
            return [None] * len(values)
        blank = draw(st.sets(st.integers(0, len(values) - 1), min_size=1, max_size=max(1, len(values) // 3)))
        return [None if i in blank else v for i, v in enumerate(values)]

    # Integer ids, or string codes (with unicode and inner spaces).
    ids: list = list(range(1, n_users + 1))
    if draw(st.booleans()):
        ids = [f"ü {i:03d}" for i in ids]
    users = pd.DataFrame({
        key: ids if trainable else maybe_null(ids, 6),
        "name": maybe_null([f"person {i} ü" for i in range(n_users)], 2),
        "segment": maybe_null([["a", "b"][i % 2] for i in range(n_users)], 2),
        "constant": [7] * n_users,
        "empty": [None] * n_users,
        "mixed": [draw(st.sampled_from(MIXED)) for _ in ids],
    }, dtype=object)
    days = draw(st.lists(st.integers(0, 150), min_size=n_events, max_size=n_events))
    events_frame = pd.DataFrame({
        "event_id": maybe_null(list(range(1, n_events + 1)), 6),
        key: maybe_null([ids[(7 * i) % len(ids)] if ids else None for i in range(n_events)], 2),
        time: maybe_null([(START + pd.Timedelta(days=d)).strftime("%Y-%m-%d") for d in days], 3, never_all=trainable),
        "amount": maybe_null([float(d % 7) - 2.5 for d in days], 2),
        "mixed": [draw(st.sampled_from(MIXED)) for _ in days],
        "constant": ["k"] * n_events,
        "empty": [None] * n_events,
    }, dtype=object)
    if draw(st.booleans()):  # duplicated rows
        events_frame = pd.concat([events_frame, events_frame.head(max(1, n_events // 4))], ignore_index=True)
    if not trainable and draw(st.booleans()) and n_users:
        users = pd.concat([users, users.head(1)], ignore_index=True)
    extra: dict[str, bytes] = {}
    parquet = draw(st.booleans())
    if not trainable and draw(st.sampled_from([False] * 4 + [True])):
        extra["empty file.csv"] = b""
    if draw(st.sampled_from([False] * 4 + [True])):
        extra["header only.csv"] = f"{key},note\n".encode()
    return Folder(entity, key, events, {entity: users, events: events_frame}, extra, parquet)


def run_cli(argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr of ``relgraph argv``; an exception escaping ``main`` fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def assert_clean(argv: list[str], where: list[str]) -> None:
    """``argv`` succeeds, or stops with one ``relgraph: error:`` line naming one of ``where`` (the
    folder's tables, columns and files): the user learns what to fix and where."""
    code, err = run_cli(argv)
    assert "Traceback" not in err and "internal error" not in err, err
    if code != 0:
        errors = [line for line in err.splitlines() if line.startswith("relgraph: error: ")]
        assert code == 1 and len(errors) == 1, f"{argv[0]}: exit {code} with {err!r}"
        assert any(name.strip() in errors[0] for name in where), f"{argv[0]}: the error names no table, column or file: {errors[0]!r}"


def check(folder: Folder, commands: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # the GNN's graph cache lands in tmp
        root = Path(tmp) / "db"
        root.mkdir()
        folder.write(root)
        where = folder.names()
        for command in commands:
            if command == "inspect":
                assert_clean(["inspect", str(root)], where)
            elif command == "explain":
                assert_clean(["query", str(root), folder.query, "--explain"], where)
            else:
                out = Path(tmp) / f"run-{command}"
                assert_clean(["train", str(root), "--query", folder.query, "--model", command, "--out", str(out),
                              "--seed", "0", *FAST_GNN], where)


# No shrinking: a failure prints its folder at once (shrinking a training run takes minutes).
SETTINGS = {"phases": [Phase.explicit, Phase.generate], "deadline": None, "derandomize": True, "suppress_health_check": [HealthCheck.too_slow]}


@settings(max_examples=EXAMPLES or 25, **SETTINGS)
@given(folders())
def test_inspect_and_explain_never_show_a_traceback(folder: Folder) -> None:
    check(folder, ["inspect", "explain"])


MODELS = ["lightgbm", "gnn", "auto"]


def messy_but_trainable() -> Folder:
    """Every kind of mess at once, on data with a clean entity key and enough events to train."""
    rng = np.random.default_rng(0)
    ids = list(range(1, 13))
    users = pd.DataFrame({"Ïd": ids, "näme": [None if i % 5 == 0 else f"person {i}" for i in ids],
                          "constant": 7, "empty": None, "mixed": [MIXED[i % len(MIXED)] for i in ids]}, dtype=object)
    days = np.sort(rng.integers(0, 150, 80))
    events = pd.DataFrame({
        "event_id": range(1, 81),
        "Ïd": [None if i % 11 == 0 else ids[int(rng.integers(0, 12))] for i in range(80)],
        "created_at": [None if i % 17 == 0 else (START + pd.Timedelta(days=int(d))).strftime("%Y-%m-%d")
                       for i, d in enumerate(days)],
        "amount": [None if i % 4 == 0 else float(d % 7) - 2.5 for i, d in enumerate(days)],
        "mixed": [MIXED[i % len(MIXED)] for i in range(80)], "constant": "k", "empty": None,
    }, dtype=object)
    events = pd.concat([events, events.head(10)], ignore_index=True)  # duplicated rows
    return Folder("Üsers", "Ïd", "click events", {"Üsers": users, "click events": events},
                  {"header only.csv": b"\xc3\x8fd,note\n"}, parquet=False)


@pytest.mark.parametrize("model", MODELS)
def test_a_messy_folder_trains_with_every_model_kind(model: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        root = Path(tmp) / "db"
        root.mkdir()
        folder = messy_but_trainable()
        folder.write(root)
        code, err = run_cli(["train", str(root), "--query", folder.query, "--model", model, "--out", "run", *FAST_GNN])
        assert code == 0, err
        assert (Path(tmp) / "run" / "metrics.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_train_never_shows_a_traceback(model: str) -> None:
    @settings(max_examples=EXAMPLES or 8, **SETTINGS)
    @given(folders(trainable=True))
    def trains(folder: Folder) -> None:
        check(folder, [model])

    trains()
