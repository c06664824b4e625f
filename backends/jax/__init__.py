"""The JAX backend: Flax NNX modules, Optax optimizers, jax.jit-compiled pure training steps.

Same modules as every backend: layers, weights, optim, probes, adapter. This file imports no framework: the registry
reads the declaration below without JAX installed.
"""

NAME = "jax"
ORDER = 30
MODES = ("jit",)
"""Execution modes; the first is the default."""
REQUIRES = ("jax", "flax", "optax")
VERSIONED = ("jax", "jaxlib", "flax", "optax")
"""Distributions whose installed versions go into every record's provenance."""
ADAPTER = "backends.jax.adapter:JaxAdapter"
