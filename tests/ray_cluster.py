"""A real two-node Ray cluster on loopback for the executor tests: `ray start --head` plus `ray start --address`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

RAY_ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_binary() -> str:
    """The `ray` command of this interpreter's environment; the test is skipped, saying how, without Ray."""
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("Ray is not installed: pip install -c constraints.txt -e '.[ray]' (CI installs it)")
    return str(Path(sys.executable).with_name("ray"))


class LoopbackCluster:
    """A head and one worker node on 127.0.0.1, one CPU each (so each runs one cell at a time), in a private
    temporary folder; `stop` kills only this cluster's processes."""

    def __init__(self) -> None:
        self.ray = ray_binary()
        self.temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        self._start(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={self.temp}", *common])
        self._start([f"--address={self.address}", *common])
        self.head_id, self.worker_id = self._node_ids()

    def _start(self, args: list[str]) -> None:
        out = subprocess.run([self.ray, "start", *args], env=RAY_ENV, capture_output=True, text=True, timeout=120)
        if out.returncode:
            self.stop()
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")

    def _node_ids(self) -> tuple[str, str]:
        """(head node id, worker node id), read from the raylets' own command lines once both are up."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ids = {}
            for proc in self.processes():
                args = proc.cmdline()
                if args and Path(args[0]).name == "raylet":
                    node = next(a.split("=", 1)[1] for a in args if a.startswith("--node_id="))
                    ids["worker" if any(a.endswith("raylet.1") for a in args) else "head"] = node
            if len(ids) == 2:
                return ids["head"], ids["worker"]
            time.sleep(0.2)
        raise RuntimeError("the two raylets did not come up within 60 s")

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes: those whose command line names its temporary folder."""
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            if any(self.temp in a for a in proc.info["cmdline"] or ()):
                found.append(proc)
        return found

    def raylet(self, node_id: str) -> psutil.Process:
        return next(p for p in self.processes() if f"--node_id={node_id}" in p.cmdline())

    def stop(self) -> None:
        procs = self.processes()
        for proc in procs:
            try:
                for child in proc.children(recursive=True):
                    child.send_signal(signal.SIGKILL)
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=10)
        shutil.rmtree(self.temp, ignore_errors=True)
