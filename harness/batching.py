"""The batch order every backend shares: seeded per-epoch permutations, fixed batch shape."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def effective_batch_size(batch_size: int, n_samples: int) -> int:
    """The requested batch size, capped at the data size (a larger request means full-batch)."""
    return max(1, min(batch_size, n_samples))


def epoch_batches(n_samples: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """(steps, batch) row indices: a seeded permutation, the incomplete last batch dropped (fixed shapes)."""
    bs = effective_batch_size(batch_size, n_samples)
    order = np.random.default_rng([seed, epoch]).permutation(n_samples)
    steps = n_samples // bs
    return order[: steps * bs].reshape(steps, bs)


def padded_chunks(n_samples: int, batch_size: int) -> Iterator[tuple[np.ndarray, int]]:
    """Evaluation chunks of exactly `batch_size` rows (the last padded by repeating row 0) and each's real length."""
    for start in range(0, n_samples, batch_size):
        idx = np.arange(start, min(start + batch_size, n_samples))
        real = len(idx)
        if real < batch_size:
            idx = np.concatenate([idx, np.zeros(batch_size - real, dtype=idx.dtype)])
        yield idx, real


def steady_rows(n_train: int, n_test: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the fixed training batch and inference batch that steady-state timing repeats (the first
    `batch_size` rows of each split, wrapped when a split is smaller)."""
    return np.arange(batch_size) % n_train, np.arange(batch_size) % n_test
