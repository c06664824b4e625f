"""Device and data plumbing of the JAX adapter: device choice and naming, dtype casts, prefetching device batches."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp

from backends.base import Unsupported


def cast_floating(tree: Any, dtype: Any) -> Any:
    """Every floating-point leaf of `tree` as `dtype`; integer leaves (token ids) unchanged."""
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def pick_device(device: str) -> jax.Device:
    """The jax device for "auto" (the default backend's first device), "cpu", or "cuda"/"gpu"."""
    if device == "auto":
        return jax.devices()[0]
    if device == "cpu":
        return jax.devices("cpu")[0]
    if device in ("cuda", "gpu"):
        try:
            return jax.devices("gpu")[0]
        except RuntimeError as exc:
            raise Unsupported(f"jax sees no GPU (install jax[cuda12]): {exc}") from None
    raise Unsupported(f"jax backend has no device {device!r}; use auto, cpu, cuda or gpu")


def device_kind(device: jax.Device) -> str:
    """'cpu', 'cuda' for an NVIDIA GPU (jax calls its platform 'gpu'), else the platform's own name."""
    if device.platform == "cpu":
        return "cpu"
    client = device.client  # a CUDA client names "cuda" in its platform or its platform_version
    names = (device.platform, getattr(client, "platform", ""), str(getattr(client, "platform_version", "")).lower())
    return "cuda" if any("cuda" in name for name in names) else device.platform


def prefetch_to_device(batches: Iterator[Any], size: int, device: jax.Device) -> Iterator[Any]:
    """Yield `batches` after jax.device_put, keeping `size` transfers in flight (as flax.jax_utils' prefetch)."""
    queue: collections.deque[Any] = collections.deque()

    def enqueue(count: int) -> None:
        for batch in itertools.islice(batches, count):
            queue.append(jax.device_put(batch, device))

    enqueue(size)
    while queue:
        yield queue.popleft()
        enqueue(1)
