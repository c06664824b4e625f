"""The TensorFlow / Keras 3 backend: native Keras layers, a tf.function train step, neutral weight mapping."""
