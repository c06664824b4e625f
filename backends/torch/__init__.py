"""PyTorch backend: native modules, weight mapping and the adapter."""
