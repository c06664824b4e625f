"""The JAX backend: Flax NNX modules, Optax optimizers, jax.jit-compiled pure training steps."""
