"""Default cutoffs that survive gaps: chosen from the task's rows when the last windows fail.

The fixture (``tests/rental_fixture.py``) is a rental shop dense for four months, silent for six,
then one final day of rentals: the last windows of the label events lie in the gap.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rental_fixture import CHURN, DENSE_END, FINAL_DAY, write_gapped_rentals

import relgraph
from relgraph.cli.main import main
from relgraph.errors import QueryError
from relgraph.query import build_task, make_training_table
from relgraph.query.parser import parse
from relgraph.query.row_cutoffs import choose_cutoffs, classes_at, grid_times
from relgraph.query.splits import plan_splits, split_basis

EVERYONE = "PREDICT COUNT(rentals.*, 0, 30, days) = 0 FOR EACH customers.customer_id"


@pytest.fixture(scope="module")
def rentals(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{write_gapped_rentals(tmp_path_factory.mktemp('gap') / 'rentals.db')}"


@pytest.mark.parametrize("query", [CHURN, EVERYONE])
def test_default_cutoffs_survive_the_gap(rentals: str, query: str) -> None:
    db = relgraph.connect(rentals)
    default = plan_splits(db, parse(query))
    assert default.val_cutoff > DENSE_END  # the time-based default lands in the gap ...
    task = build_task(db, query)  # ... and the task is built all the same
    assert task.extra["cutoffs_reason"].startswith("chosen from the task's rows, because with the last windows")
    for split in ("train", "val", "test"):
        assert set(task.split(split)["label"]) == {0, 1}
    assert task.extra["val_cutoff"] < task.extra["test_cutoff"] <= DENSE_END
    horizon = pd.Timedelta(days=30)
    assert task.train["timestamp"].max() + horizon <= task.extra["val_cutoff"]
    assert task.val["timestamp"].max() + horizon <= task.extra["test_cutoff"]
    assert task.test["timestamp"].max() + horizon <= FINAL_DAY


@pytest.mark.parametrize("window", ["10, 40, days", "0, 1, months", "0, 7, days"])
def test_windows_off_the_step_grid_calendar_months_and_several_windows(rentals: str, window: str) -> None:
    db = relgraph.connect(rentals)
    task = build_task(db, f"PREDICT COUNT(rentals.*, {window}) = 0 FOR EACH customers.customer_id")
    assert task.extra["cutoffs_reason"].startswith("chosen from the task's rows")
    for split in ("train", "val", "test"):
        frame = task.split(split)
        assert set(frame["label"]) == {0, 1} and frame["timestamp"].is_monotonic_increasing
    assert task.val["timestamp"].nunique() == task.test["timestamp"].nunique()


def test_the_training_rows_see_nothing_after_the_val_cutoff(rentals: str) -> None:
    db = relgraph.connect(rentals)
    task = build_task(db, CHURN)
    cut = db.cut(task.extra["val_cutoff"])  # delete the future of the training split: its rows do not move
    again = make_training_table(cut, CHURN, task.train["timestamp"].unique())
    pd.testing.assert_frame_equal(again, task.train)


def test_query_says_how_the_cutoffs_were_chosen(rentals: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", rentals, CHURN]) == 0
    out = capsys.readouterr().out
    assert "cutoffs: chosen from the task's rows, because with the last windows of the label events the val split is empty" in out


def test_where_no_cutoffs_work_the_clear_error_stays(rentals: str) -> None:
    db = relgraph.connect(rentals)
    never = "PREDICT COUNT(rentals.*, 0, 30, days) > 100 FOR EACH customers.customer_id"
    with pytest.raises(QueryError, match=r"every train label is 0 .*no cutoffs chosen from the task's rows leave every split "
                                         r"non-empty and two-class"):
        build_task(db, never)


@pytest.mark.parametrize(
    "cutoffs",
    [{"val_cutoff": "2005-09-02", "test_cutoff": "2005-10-02"}, {"val_cutoff": "2005-09-02"}, {"test_cutoff": "2005-10-02"}],
)
def test_cutoffs_the_user_gives_are_never_changed(rentals: str, cutoffs: dict[str, str]) -> None:
    db = relgraph.connect(rentals)
    with pytest.raises(QueryError, match=re.escape("split is empty")) as caught:
        build_task(db, CHURN, **cutoffs)
    assert "chosen from the task's rows" not in str(caught.value)
    given = build_task(db, CHURN, val_cutoff="2005-03-01", test_cutoff="2005-03-31")
    assert given.extra["val_cutoff"] == pd.Timestamp("2005-03-01") and given.extra["cutoffs_reason"] == "cutoffs as given"


@pytest.fixture(scope="module")
def gap_basis(rentals: str) -> tuple:
    db = relgraph.connect(rentals)
    return split_basis(db, parse(EVERYONE)), plan_splits(db, parse(EVERYONE)).test_cutoff


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_the_choice_reads_labels_only_as_the_classes_present(gap_basis: tuple, data: st.DataObject) -> None:
    """Cutoffs are chosen without looking at label rates: relabel the rows any way that keeps the
    set of classes at each timestamp, and the same cutoffs come out."""
    basis, default_test = gap_basis
    stamps = grid_times(basis, default_test)  # the times the candidates' splits are made of
    rows = data.draw(st.lists(st.tuples(st.sampled_from(list(stamps)), st.integers(0, 1)), min_size=1, max_size=80))
    rows += [(t, label) for t in stamps[1:] for label in (0, 1) if data.draw(st.booleans())]
    frame = pd.DataFrame(rows, columns=["timestamp", "label"])
    row_times = np.sort(frame["timestamp"].to_numpy(dtype="datetime64[ns]"))
    chosen = choose_cutoffs(basis, default_test, row_times, classes_at(frame, True))
    # Relabel: at each timestamp, keep one row per class present and draw the other rows among those classes.
    relabelled = []
    for _, group in frame.groupby("timestamp"):
        present = sorted(group["label"].unique())
        labels = present + [data.draw(st.sampled_from(present)) for _ in range(len(group) - len(present))]
        relabelled.append(group.assign(label=labels))
    other = pd.concat(relabelled)
    assert choose_cutoffs(basis, default_test, row_times, classes_at(other, True)) == chosen
