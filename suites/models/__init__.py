"""One file per workload, each defining `workload() -> Workload` (and optionally ORDER); suites.registry finds them."""
