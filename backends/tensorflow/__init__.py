"""The TensorFlow / Keras 3 backend: native Keras layers, a tf.function (or XLA, or eager) train step, neutral weights.

Same modules as every backend: layers, weights, optim, probes, adapter. This file imports no framework: the registry
reads the declaration below without TensorFlow installed.
"""

NAME = "tensorflow"
ORDER = 20
MODES = ("graph", "xla", "eager")
"""Execution modes; the first is the default."""
REQUIRES = ("tensorflow",)
VERSIONED = ("tensorflow", "tensorflow-cpu", "keras")
"""Distributions whose installed versions go into every record's provenance."""
ADAPTER = "backends.tensorflow.adapter:TensorFlowAdapter"
