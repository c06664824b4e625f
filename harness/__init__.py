"""MEASURE: plan cells, run each in a fresh process, apply the protocol, store the records (framework-free)."""
