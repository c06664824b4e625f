"""The PyTorch backend: native nn.Modules, neutral weight mapping, torch.optim, torch.compile / channels_last modes.

Same modules as every backend: layers, weights, optim, probes, adapter. This file imports no framework: the registry
reads the declaration below without torch installed.
"""

NAME = "torch"
ORDER = 10
MODES = ("eager", "compile", "channels_last")
"""Execution modes; the first is the default."""
REQUIRES = ("torch",)
VERSIONED = ("torch",)
"""Distributions whose installed versions go into every record's provenance."""
ADAPTER = "backends.torch.adapter:TorchAdapter"
