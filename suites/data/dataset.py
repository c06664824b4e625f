"""A loaded, split dataset in the neutral layout, and the seeded splits that every backend shares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

VALIDATION_STREAM = 7919
"""Second word of the validation carve's RNG seed ([task seed, this]): apart from the batch-order streams."""


@dataclass(frozen=True)
class Dataset:
    """Train, test and (once carved) validation arrays (images NHWC float32, token ids int32, labels int32 or
    float32 (N, 1))."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int | None
    source: str
    meta: dict[str, object] = field(default_factory=dict)
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def limited(self, train_limit: int | None, eval_limit: int | None) -> Dataset:
        """The first `train_limit` / `eval_limit` rows of each (already shuffled) split."""
        return dataclasses.replace(self, x_train=self.x_train[:train_limit], y_train=self.y_train[:train_limit],
                                   x_test=self.x_test[:eval_limit], y_test=self.y_test[:eval_limit],
                                   meta={**self.meta, "train_limit": train_limit, "eval_limit": eval_limit})

    def with_validation(self, fraction: float, seed: int) -> Dataset:
        """`fraction` of the training rows (at least one, leaving one) moved to a validation split, chosen by a
        permutation seeded with [seed, VALIDATION_STREAM]; both keep their rows' order. Idempotent."""
        if self.x_val is not None:
            return self
        n = len(self.x_train)
        if n < 2:
            raise ValueError(f"{self.name}: {n} training row(s), too few to hold out a validation split")
        n_val = min(n - 1, max(1, round(fraction * n)))
        order = np.random.default_rng([seed, VALIDATION_STREAM]).permutation(n)
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        return dataclasses.replace(self, x_train=self.x_train[train], y_train=self.y_train[train],
                                   x_val=self.x_train[val], y_val=self.y_train[val],
                                   meta={**self.meta, "validation_fraction": fraction})

    def summary(self) -> dict[str, object]:
        """Sizes and provenance for the result record (n_val once a validation split is carved)."""
        sizes = {"n_train": int(len(self.x_train)), "n_test": int(len(self.x_test))}
        if self.x_val is not None:
            sizes["n_val"] = int(len(self.x_val))
        return {"name": self.name, "source": self.source, **sizes, "num_classes": self.num_classes, **self.meta}


def split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int,
          stratify: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded (stratified for classes) shuffle-split: x_train, x_test, y_train, y_test."""
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, shuffle=True,
                            stratify=y if stratify else None)
