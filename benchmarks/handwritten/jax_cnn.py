"""Hand-written JAX / Flax NNX training loop of mnist_cnn, as a user would write it without the suite.

Standalone: imports nothing from suites/, harness/ or backends/. Prints one JSON line.
The step is a jax.jit pure function over the nnx.split parameter state, with params and optimizer state donated.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

BATCH = 128
WARMUP = 10


def window_max_pool(x: jax.Array) -> jax.Array:
    """The idiomatic pool: reduce_window; its gradient is select_and_scatter, slow on XLA CPU."""
    return nnx.max_pool(x, (2, 2), strides=(2, 2))


def slice_max_pool(x: jax.Array) -> jax.Array:
    """2x2/2 max pool (VALID, floor) as the max of four strided slices: elementwise ops forward and backward."""
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    x = x[:, :h, :w]
    return jnp.maximum(jnp.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]), jnp.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]))


POOLS = {"window": window_max_pool, "slices": slice_max_pool}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--pool", choices=sorted(POOLS), default="window",
                        help="window: nnx.max_pool (idiomatic, default); slices: strided-slice max (as the suite)")
    args = parser.parse_args()

    graphdef, params = nnx.split(CNN(nnx.Rngs(0), args.pool))
    tx = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-8)
    opt_state = tx.init(params)
    kx, ky = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (BATCH, 28, 28, 1), jnp.float32)
    y = jax.random.randint(ky, (BATCH,), 0, 10, jnp.int32)

    def loss_fn(params: nnx.State, x: jax.Array, y: jax.Array) -> jax.Array:
        logits = nnx.merge(graphdef, params)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params: nnx.State, opt_state: optax.OptState, x: jax.Array,
             y: jax.Array) -> tuple[nnx.State, optax.OptState, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    loss = None
    for _ in range(WARMUP):
        params, opt_state, loss = step(params, opt_state, x, y)
    jax.block_until_ready((params, opt_state, loss))
    rates = []
    for _ in range(args.trials):
        start = time.perf_counter()
        for _ in range(args.steps):
            params, opt_state, loss = step(params, opt_state, x, y)
        jax.block_until_ready((params, opt_state, loss))
        rates.append(args.steps * BATCH / (time.perf_counter() - start))
    print(json.dumps({"framework": "jax", "samples_per_s": rates, "median": statistics.median(rates),
                      "batch_size": BATCH, "steps": args.steps, "trials": args.trials,
                      "pool": args.pool, "version": jax.__version__, "backend": jax.default_backend()}))


if __name__ == "__main__":
    main()
