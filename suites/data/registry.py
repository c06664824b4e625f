"""Datasets by name: offline ones need only installed packages; online ones download once."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from suites.data import offline, online
from suites.data.dataset import Dataset
from suites.errors import UsageError

OFFLINE: dict[str, Callable[[int, float], Dataset]] = {
    "mnist5k": offline.mnist5k,
    "rowmnist5k": partial(offline.mnist5k, rows=True),
    "rotten_tomatoes": offline.rotten_tomatoes,
    "rotten_tomatoes_tfidf": offline.rotten_tomatoes_tfidf,
    "rotten_tomatoes_bytes": offline.rotten_tomatoes_bytes,
    "diabetes": offline.diabetes,
}
ONLINE: dict[str, Callable[[], Dataset]] = {
    "mnist": online.mnist_full,
    "cifar10": online.cifar10,
    "imdb": online.imdb,
    "20newsgroups": online.newsgroups20,
}


def load_dataset(name: str, seed: int, test_fraction: float) -> Dataset:
    """A dataset by name; offline sets are split with `seed`, online sets keep their official split."""
    if name in OFFLINE:
        return OFFLINE[name](seed, test_fraction)
    if name in ONLINE:
        return ONLINE[name]()
    raise UsageError(f"unknown dataset {name!r}; offline: {', '.join(OFFLINE)}; online: {', '.join(ONLINE)}")
