"""Hand-written JAX / Flax NNX loops of mnist_cnn (training step and inference), as a user would write them.

Standalone: imports nothing from suites/, harness/ or backends/. Reads the batch from --data (an .npz of NHWC
images, as benchmarks/overhead.py writes the suite's own timed rows). Prints one JSON line. The step is a jax.jit
pure function over the nnx.split parameter state, params and optimizer state donated; inference a jitted forward.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

WARMUP = 10


def window_max_pool(x: jax.Array) -> jax.Array:
    """The idiomatic pool: reduce_window; its gradient is select_and_scatter, slow on XLA CPU."""
    return nnx.max_pool(x, (2, 2), strides=(2, 2))


def _quarters(x: jax.Array) -> list[jax.Array]:
    """The four 2x2/2 window positions (VALID, floor) as strided slices, in row-major window order."""
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    x = x[:, :h, :w]
    return [x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]]


def maximum_max_pool(x: jax.Array) -> jax.Array:
    """2x2/2 max pool as a jnp.maximum chain of the slices; its gradient splits ties and costs more selects."""
    a, b, c, d = _quarters(x)
    return jnp.maximum(jnp.maximum(a, b), jnp.maximum(c, d))


def select_max_pool(x: jax.Array) -> jax.Array:
    """2x2/2 max pool as the suite trains it: the slices' maximum, stop-gradient, and a jnp.where chain that sends
    the gradient to the first maximum in window order (reduce_window's values and gradient)."""
    parts = _quarters(x)
    peak = jax.lax.stop_gradient(jnp.maximum(jnp.maximum(parts[0], parts[1]), jnp.maximum(parts[2], parts[3])))
    out = parts[-1]
    for part in reversed(parts[:-1]):
        out = jnp.where(part == peak, part, out)
    return out


POOLS = {"window": window_max_pool, "select": select_max_pool, "maximum": maximum_max_pool}


class CNN(nnx.Module):
    def __init__(self, rngs: nnx.Rngs, pool: str = "window") -> None:
        self.pool = POOLS[pool]
        self.conv1 = nnx.Conv(1, 32, (3, 3), padding="VALID", rngs=rngs)
        self.conv2 = nnx.Conv(32, 64, (3, 3), padding="VALID", rngs=rngs)
        self.fc1 = nnx.Linear(5 * 5 * 64, 128, rngs=rngs)
        self.fc2 = nnx.Linear(128, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.pool(nnx.relu(self.conv1(x)))
        x = self.pool(nnx.relu(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)
        return self.fc2(nnx.relu(self.fc1(x)))


def rates(fn: Callable[[], object], trials: int, steps: int, batch: int) -> list[float]:
    out = None
    for _ in range(WARMUP):
        out = fn()
    jax.block_until_ready(out)
    result = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(steps):
            out = fn()
        jax.block_until_ready(out)
        result.append(steps * batch / (time.perf_counter() - start))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help=".npz with x_train, y_train, x_test (NHWC float32)")
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--train-pool", choices=sorted(POOLS), default="select",
                        help="select: the suite's training path; window: nnx.max_pool; maximum: jnp.maximum chain")
    parser.add_argument("--infer-pool", choices=sorted(POOLS), default="window",
                        help="window: nnx.max_pool (idiomatic, the suite's inference path); select; maximum")
    args = parser.parse_args()

    data = np.load(args.data)
    x, x_test = jnp.asarray(data["x_train"]), jnp.asarray(data["x_test"])
    y = jnp.asarray(data["y_train"].astype(np.int32))
    batch = int(x.shape[0])
    graphdef, params = nnx.split(CNN(nnx.Rngs(0), args.train_pool))
    infer_graphdef, _ = nnx.split(CNN(nnx.Rngs(0), args.infer_pool))
    tx = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-8)
    state = {"params": params, "opt": tx.init(params)}

    def loss_fn(params: nnx.State, x: jax.Array, y: jax.Array) -> jax.Array:
        logits = nnx.merge(graphdef, params)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params: nnx.State, opt_state: optax.OptState, x: jax.Array,
             y: jax.Array) -> tuple[nnx.State, optax.OptState, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def forward(params: nnx.State, x: jax.Array) -> jax.Array:
        return nnx.merge(infer_graphdef, params)(x)

    def train_once() -> jax.Array:
        state["params"], state["opt"], loss = step(state["params"], state["opt"], x, y)
        return loss

    train = rates(train_once, args.trials, args.steps, batch)
    infer = rates(lambda: forward(state["params"], x_test), args.trials, args.steps * 3, batch)
    print(json.dumps({"framework": "jax", "train": {"samples_per_s": train, "median": statistics.median(train)},
                      "infer": {"samples_per_s": infer, "median": statistics.median(infer)},
                      "batch_size": batch, "steps": args.steps, "trials": args.trials,
                      "train_pool": args.train_pool, "infer_pool": args.infer_pool,
                      "version": jax.__version__, "backend": jax.default_backend()}))


if __name__ == "__main__":
    main()
