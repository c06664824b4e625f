"""Hand-written TensorFlow / Keras 3 loops of mnist_cnn (training step and inference), as a user would write them.

Standalone: imports nothing from suites/, harness/ or backends/. Reads the batch from --data (an .npz of NHWC
images, as benchmarks/overhead.py writes the suite's own timed rows). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

WARMUP = 10


def make_model() -> keras.Model:
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])


def rates(fn: Callable[[], tf.Tensor], trials: int, steps: int, batch: int) -> list[float]:
    out = None
    for _ in range(WARMUP):
        out = fn()
    out.numpy()
    result = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(steps):
            out = fn()
        out.numpy()
        result.append(steps * batch / (time.perf_counter() - start))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help=".npz with x_train, y_train, x_test (NHWC float32)")
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    data = np.load(args.data)
    x, x_test = tf.constant(data["x_train"]), tf.constant(data["x_test"])
    y = tf.constant(data["y_train"].astype(np.int32))
    batch = int(x.shape[0])
    keras.utils.set_random_seed(0)
    model = make_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def infer(x: tf.Tensor) -> tf.Tensor:
        return model(x, training=False)

    train = rates(lambda: step(x, y), args.trials, args.steps, batch)
    inference = rates(lambda: infer(x_test), args.trials, args.steps * 3, batch)
    print(json.dumps({"framework": "tensorflow", "train": {"samples_per_s": train, "median": statistics.median(train)},
                      "infer": {"samples_per_s": inference, "median": statistics.median(inference)},
                      "batch_size": batch, "steps": args.steps, "trials": args.trials,
                      "version": tf.__version__, "keras_version": keras.__version__}))


if __name__ == "__main__":
    main()
