"""The command layer of run_bench.py: the only place that calls both the measuring side and the showing side."""
