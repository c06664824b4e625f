"""One file per model family; each exposes `workload() -> Workload`. The registry lists them by name."""
