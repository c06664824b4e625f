"""A loaded, split dataset in the neutral layout, and the seeded split that every backend shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays (images NHWC float32, token ids int32, labels int32 or float32 (N, 1))."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int | None
    source: str
    meta: dict[str, object] = field(default_factory=dict)

    def limited(self, train_limit: int | None, eval_limit: int | None) -> Dataset:
        """The first `train_limit` / `eval_limit` rows of each (already shuffled) split."""
        return Dataset(self.name, self.x_train[:train_limit], self.y_train[:train_limit],
                       self.x_test[:eval_limit], self.y_test[:eval_limit], self.num_classes, self.source,
                       {**self.meta, "train_limit": train_limit, "eval_limit": eval_limit})

    def summary(self) -> dict[str, object]:
        """Sizes and provenance for the result record."""
        return {"name": self.name, "source": self.source, "n_train": int(len(self.x_train)),
                "n_test": int(len(self.x_test)), "num_classes": self.num_classes, **self.meta}


def split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int,
          stratify: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded (stratified for classes) shuffle-split: x_train, x_test, y_train, y_test."""
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, shuffle=True,
                            stratify=y if stratify else None)
