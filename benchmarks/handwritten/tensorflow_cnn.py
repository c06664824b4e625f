"""Hand-written TensorFlow / Keras 3 training loop of mnist_cnn, as a user would write it without the suite.

Standalone: imports nothing from suites/, harness/ or backends/. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

BATCH = 128
WARMUP = 10


def make_model() -> keras.Model:
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    model = make_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.identity(tf.random.normal((BATCH, 28, 28, 1)))
    y = tf.identity(tf.random.uniform((BATCH,), 0, 10, dtype=tf.int32))

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    loss = None
    for _ in range(WARMUP):
        loss = step(x, y)
    loss.numpy()
    rates = []
    for _ in range(args.trials):
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = step(x, y)
        loss.numpy()
        rates.append(args.steps * BATCH / (time.perf_counter() - start))
    print(json.dumps({"framework": "tensorflow", "samples_per_s": rates, "median": statistics.median(rates),
                      "batch_size": BATCH, "steps": args.steps, "trials": args.trials,
                      "version": tf.__version__, "keras_version": keras.__version__}))


if __name__ == "__main__":
    main()
