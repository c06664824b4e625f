"""How a cell's process is started: forked from a per-backend zygote (default) or spawned as a new interpreter."""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from harness.allocator import malloc_env
from harness.env import REPO

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (so no cell outlives its runner)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


ISOLATIONS = ("fork", "spawn")


def child_env() -> dict[str, str]:
    """The environment of a cell or parity process: the repository first on PYTHONPATH, the user's path kept, and
    glibc malloc pinned to its steady state (harness.allocator) unless the user set the thresholds."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **malloc_env(os.environ), "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}


def start_module(module: str, args: list[str], err: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """`python -m module args` in the repository, stderr to `err`, ended if this process dies."""
    with err.open("w") as handle:
        return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=child_env(),
                                stdout=subprocess.DEVNULL, stderr=handle, preexec_fn=die_with_parent, **popen)


def finish(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """Wait for `proc` at most `timeout_s`, killing it past that; its exit code."""
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


class Launched(Protocol):
    pid: int

    def poll(self) -> int | None:
        """The exit code once the process has ended (negative: killed by that signal), else None."""

    def wait(self) -> int:
        """Block until the process has ended; its exit code."""


class SpawnedCell:
    """A cell in a brand-new interpreter (`python -m harness.worker`): imports are paid inside the cell."""

    def __init__(self, cell: dict[str, Any], out: Path, err: Path) -> None:
        cell_path = out.with_name("cell.json")
        cell_path.write_text(json.dumps(cell))
        self._proc = start_module("harness.worker", [str(cell_path), str(out)], err, start_new_session=True)
        self.pid = self._proc.pid

    def poll(self) -> int | None:
        return self._proc.poll()

    def wait(self) -> int:
        return self._proc.wait()


class Zygote:
    """One backend's fork server (harness.zygote), started once and reused for every cell of that backend."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.zygote", backend], cwd=REPO, env=child_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     bufsize=0, preexec_fn=die_with_parent)
        self._ready = False
        self._buffer = b""

    def read_message(self, timeout_s: float | None) -> dict[str, Any] | None:
        """The next message, waiting at most `timeout_s` (None: forever); {} if the zygote has exited."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            if not select.select([fd], [], [], timeout_s)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return {}
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def wait_ready(self) -> None:
        if not self._ready:
            if not self.read_message(None).get("ready"):  # type: ignore[union-attr]
                raise RuntimeError(f"the {self.backend} zygote failed to start (exit {self.proc.poll()})")
            self._ready = True

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class ForkedCell:
    """A cell forked from a ready zygote; the zygote reports its pid and, later, its exit code."""

    def __init__(self, zygote: Zygote, cell: dict[str, Any], out: Path, err: Path) -> None:
        zygote.wait_ready()
        self._zygote = zygote
        zygote.send({"cell": cell, "out": str(out), "err": str(err)})
        message = zygote.read_message(None) or {}
        if "pid" not in message:
            raise RuntimeError(f"the {zygote.backend} zygote died before forking the cell")
        self.pid = int(message["pid"])
        self._code: int | None = None

    def _collect(self, timeout_s: float | None) -> int | None:
        if self._code is None:
            message = self._zygote.read_message(timeout_s)
            if message is not None:
                self._code = int(message.get("returncode", -9))  # {}: the zygote itself died
        return self._code

    def poll(self) -> int | None:
        return self._collect(0)

    def wait(self) -> int:
        code = self._collect(None)
        assert code is not None
        return code


class ZygotePool:
    """The zygotes of a run, one per backend; `start` launches several at once so their imports overlap."""

    def __init__(self) -> None:
        self._zygotes: dict[str, Zygote] = {}

    def start(self, backends: list[str]) -> None:
        for backend in backends:
            self.get(backend, wait=False)
        for backend in backends:
            self._zygotes[backend].wait_ready()

    def restart(self, backends: list[str]) -> None:
        """Fresh zygotes for `backends` (the old ones closed), so later cells share no parent with earlier ones."""
        self.close()
        self.start(backends)

    def get(self, backend: str, wait: bool = True) -> Zygote:
        zygote = self._zygotes.get(backend)
        if zygote is None or not zygote.alive:
            zygote = self._zygotes[backend] = Zygote(backend)
        if wait:
            zygote.wait_ready()
        return zygote

    def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
