"""Framework-free text preprocessing: shared sizes, one train-split vocabulary, the same ids for every backend."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD_ID = 0
OOV_ID = 1
TEXT_VOCAB = 8000
"""Vocabulary size of every token-id text dataset (ids 0 and 1 included); text workloads' Embedding size."""
TEXT_LEN = 48
"""Tokens per text sample (truncated or padded); text workloads' input length."""
TFIDF_FEATURES = 1000
"""TF-IDF vocabulary size of the rotten_tomatoes_tfidf dataset; tfidf_mlp's input width."""
_TOKEN = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _TOKEN.findall(text.lower())


def build_vocab(texts: Iterable[str], size: int) -> dict[str, int]:
    """The `size - 2` most frequent tokens (ties broken alphabetically) → ids from 2; 0 is padding, 1 unknown."""
    counts = Counter(tok for text in texts for tok in tokenize(text))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: size - 2]
    return {tok: i + 2 for i, (tok, _) in enumerate(ranked)}


def encode(texts: Sequence[str], vocab: dict[str, int], length: int) -> np.ndarray:
    """(N, length) int32 ids, truncated or right-padded with PAD_ID."""
    out = np.full((len(texts), length), PAD_ID, np.int32)
    for row, text in enumerate(texts):
        ids = [vocab.get(tok, OOV_ID) for tok in tokenize(text)[:length]]
        out[row, : len(ids)] = ids
    return out


BYTE_VOCAB = 256
"""A byte-level language model's vocabulary: every UTF-8 byte value, no tokenizer."""
LM_CONTEXT = 128
"""Bytes of context per language-model sample (its input and its shifted targets)."""


def byte_windows(texts: Sequence[str], context: int) -> tuple[np.ndarray, np.ndarray]:
    """The texts joined by newlines as UTF-8 bytes, cut into non-overlapping windows of context + 1 bytes:
    inputs (N, context) and next-byte targets (N, context), both int32 (a tail shorter than a window is dropped)."""
    stream = np.frombuffer("\n".join(texts).encode("utf-8"), dtype=np.uint8).astype(np.int32)
    n = (len(stream) - 1) // context
    x = stream[: n * context].reshape(n, context)
    y = stream[1: n * context + 1].reshape(n, context)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)
