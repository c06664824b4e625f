"""A terminal progress display for a run: a rich bar on a terminal, one line per finished cell always."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness import status
from harness.cell import Cell


@contextmanager
def progress_reporter(con: Console, quiet: bool, total: int) -> Iterator[Any]:
    """A callback for each cell start (record None) and end, drawing the bar and the finished-cell lines."""
    done = [0]
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=con, transient=True, disable=quiet or not con.is_terminal)
    task = bar.add_task("cells", total=total)

    def report(cell: Cell, record: dict[str, Any] | None) -> None:
        if record is None:
            bar.update(task, description=cell.key)
            return
        done[0] += 1
        bar.advance(task)
        if quiet:
            return
        err = record.get("error") or {}
        extra = f"  {err.get('type')}: {str(err.get('message'))[:100]}" if record["status"] != status.OK else ""
        bar.console.print(f"[{done[0]}/{total}] {cell.key:<45} {record['status']:<8} "
                          f"{record.get('wall_s', 0):6.1f} s{extra}", markup=False)

    with bar:
        yield report
