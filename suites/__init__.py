"""What is benchmarked: the framework-free spec, the workloads, the data and the named suites."""
