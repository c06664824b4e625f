"""Full datasets for users with a network: MNIST, CIFAR-10, IMDB, 20 Newsgroups (checksummed, cached)."""

from __future__ import annotations

import gzip
import pickle
import tarfile
from pathlib import Path

import numpy as np

from suites.data.dataset import Dataset
from suites.data.download import RemoteFile, fetch
from suites.data.text import TEXT_LEN, TEXT_VOCAB, build_vocab, encode

_MNIST_BASE = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_FILES = {
    "train_x": RemoteFile("train-images-idx3-ubyte.gz", _MNIST_BASE + "train-images-idx3-ubyte.gz",
                          "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_y": RemoteFile("train-labels-idx1-ubyte.gz", _MNIST_BASE + "train-labels-idx1-ubyte.gz",
                          "md5:d53e105ee54ea40749a09fcbcd1e9432"),
    "test_x": RemoteFile("t10k-images-idx3-ubyte.gz", _MNIST_BASE + "t10k-images-idx3-ubyte.gz",
                         "md5:9fb629c4189551a2d022fa330f9573f3"),
    "test_y": RemoteFile("t10k-labels-idx1-ubyte.gz", _MNIST_BASE + "t10k-labels-idx1-ubyte.gz",
                         "md5:ec29112dd5afa0611ce80d1b7f02629c"),
}
CIFAR10_FILE = RemoteFile("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                          "md5:c58f30108f718f92721af3b95e74349a")
IMDB_FILE = RemoteFile("aclImdb_v1.tar.gz", "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                       "md5:7c2ac02c03563afcf9b574c7e56c153a")
NEWSGROUPS_FILE = RemoteFile("20news-bydate.tar.gz", "https://ndownloader.figshare.com/files/5975967",
                             "sha256:8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610")


def read_idx(path: Path) -> np.ndarray:
    """An IDX (MNIST) array from a gzip file: big-endian dims after a 4-byte magic."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def mnist_full() -> Dataset:
    """All 70,000 MNIST digits with the official 60k/10k split, (28, 28, 1) in [0, 1]."""
    paths = {key: fetch(remote, "mnist") for key, remote in MNIST_FILES.items()}
    def images(p: Path) -> np.ndarray:
        return (read_idx(p).astype(np.float32) / 255.0)[..., None]

    return Dataset("mnist", images(paths["train_x"]), read_idx(paths["train_y"]).astype(np.int32),
                   images(paths["test_x"]), read_idx(paths["test_y"]).astype(np.int32), 10, "MNIST (LeCun et al.)")


def cifar10() -> Dataset:
    """CIFAR-10's 50k/10k split as (32, 32, 3) NHWC in [0, 1]."""
    archive = fetch(CIFAR10_FILE, "cifar10")
    xs: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    ys: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    with tarfile.open(archive, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            base = Path(member.name).name
            part = "train" if base.startswith("data_batch") else "test" if base == "test_batch" else None
            if part is None:
                continue
            batch = pickle.load(tar.extractfile(member), encoding="bytes")  # noqa: S301 - checksummed archive
            xs[part].append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys[part].append(np.asarray(batch[b"labels"], np.int32))
    def scale(a: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(a).astype(np.float32) / 255.0

    return Dataset("cifar10", scale(xs["train"]), np.concatenate(ys["train"]), scale(xs["test"]),
                   np.concatenate(ys["test"]), 10, "CIFAR-10 (Krizhevsky)")


def _read_text_tree(archive: Path, parts: tuple[str, str], label_of: dict[str, int],
                    encoding: str = "utf-8") -> dict[str, tuple[list[str], list[int]]]:
    """Texts and labels from an archive laid out <root>/<part>/<label>/<file>."""
    out: dict[str, tuple[list[str], list[int]]] = {p: ([], []) for p in parts}
    with tarfile.open(archive, "r:gz") as tar:
        for member in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
            bits = Path(member.name).parts
            if len(bits) < 3 or bits[-3] not in out or bits[-2] not in label_of:
                continue
            text = tar.extractfile(member).read().decode(encoding, errors="replace")
            out[bits[-3]][0].append(text)
            out[bits[-3]][1].append(label_of[bits[-2]])
    return out


def _text_dataset(name: str, source: str, data: dict[str, tuple[list[str], list[int]]],
                  train: str, test: str, num_classes: int) -> Dataset:
    vocab = build_vocab(data[train][0], TEXT_VOCAB)
    return Dataset(name, encode(data[train][0], vocab, TEXT_LEN), np.asarray(data[train][1], np.int32),
                   encode(data[test][0], vocab, TEXT_LEN), np.asarray(data[test][1], np.int32), num_classes,
                   source, {"vocab_size": TEXT_VOCAB, "seq_len": TEXT_LEN})


def imdb() -> Dataset:
    """IMDB movie reviews, 25k/25k, neg 0 / pos 1, as ids over a train-split vocabulary."""
    data = _read_text_tree(fetch(IMDB_FILE, "imdb"), ("train", "test"), {"neg": 0, "pos": 1})
    return _text_dataset("imdb", "IMDB (Maas et al.)", data, "train", "test", 2)


def newsgroups20() -> Dataset:
    """20 Newsgroups by date (train/test folders), 20 classes in sorted group order."""
    archive = fetch(NEWSGROUPS_FILE, "20newsgroups")
    with tarfile.open(archive, "r:gz") as tar:
        groups = sorted({Path(m.name).parts[1] for m in tar.getmembers() if len(Path(m.name).parts) > 2})
    data = _read_text_tree(archive, ("20news-bydate-train", "20news-bydate-test"),
                           {g: i for i, g in enumerate(groups)}, encoding="latin-1")
    return _text_dataset("20newsgroups", "20 Newsgroups (bydate)", data, "20news-bydate-train",
                         "20news-bydate-test", len(groups))
