"""Where cells run: here one after another (local), as Ray tasks, or as Slurm array tasks; records come back plain."""

from __future__ import annotations

from harness.executors.base import Executor, ExecutorOptions, node_lost

EXECUTORS = ("local", "ray", "slurm")


def preflight(options: ExecutorOptions) -> None:
    """UsageError, before any run is created, when the executor's package is missing or its cluster unreachable."""
    if options.name == "ray":
        from harness.executors.ray_cluster import check_ray

        check_ray(options)
    elif options.name == "slurm":
        from harness.executors.slurm import check_slurm

        check_slurm(options)


def make_executor(options: ExecutorOptions) -> Executor:
    """The executor `options.name` names (Ray and submitit are imported only when asked for)."""
    if options.name == "ray":
        from harness.executors.ray_cluster import RayExecutor

        return RayExecutor(options)
    if options.name == "slurm":
        from harness.executors.slurm import SlurmExecutor

        return SlurmExecutor(options)
    from harness.executors.local import LocalExecutor

    return LocalExecutor(options)


__all__ = ["EXECUTORS", "Executor", "ExecutorOptions", "make_executor", "node_lost", "preflight"]
