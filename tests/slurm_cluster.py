"""A throwaway single-node Slurm cluster for tests, started from Debian's packages (slurmctld, slurmd, munge).

`slurm_cluster` (session): munged on a private socket and key, slurmctld and slurmd on 127.0.0.1 and free ports,
one node `localhost` (this machine's CPUs) in partition `debug`, state, spool and logs in a temporary folder; it
yields the environment to run Slurm's clients in (SLURM_CONF pointing at the generated slurm.conf, any inherited
SLURM_* variables dropped) once `sinfo` shows the node idle. No accounting storage: `sacct` answers "accounting
storage is disabled", and submitit then polls the jobs' result files instead. At the end the jobs left are
cancelled and the three daemons it started (and only those) are stopped. The daemons and the jobs run as root, so
the fixture needs root; without the binaries or root the tests that ask for it are skipped, saying why.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HOST = "127.0.0.1"
NODE = "localhost"
PARTITION = "debug"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
INSTALL = "Slurm is not installed: apt-get install slurmctld slurmd munge (CI installs it)"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "sbatch", "squeue", "scancel")
SBIN = ("/usr/sbin", "/sbin")
"""Where Debian puts the daemons, which a non-login PATH may lack."""


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def memory_mb() -> int:
    """This machine's memory in MB, less a tenth (what the node offers to jobs)."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.9)


def slurm_conf(base: Path, munge_socket: Path, ctld_port: int, slurmd_port: int) -> str:
    """A minimal single-node slurm.conf: no cgroups (proctrack/linuxproc, task/none), no accounting, root daemons."""
    cpus = len(os.sched_getaffinity(0))
    return "\n".join([
        "ClusterName=benchtest",
        f"SlurmctldHost={NODE}({HOST})",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={base / 'state'}",
        f"SlurmdSpoolDir={base / 'spool'}",
        f"SlurmctldPidFile={base / 'slurmctld.pid'}",
        f"SlurmdPidFile={base / 'slurmd.pid'}",
        f"SlurmctldLogFile={base / 'slurmctld.log'}",
        f"SlurmdLogFile={base / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SlurmdParameters=config_overrides",  # take the node's CPUs and memory from here, not from probing it
        "MpiDefault=none",
        "SwitchType=switch/none",
        "ReturnToService=2",
        f"NodeName={NODE} NodeAddr={HOST} CPUs={cpus} RealMemory={memory_mb()} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


class _Cluster:
    """The daemons one fixture started, with their logs, in start order."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        self.env["SLURM_CONF"] = str(base / "slurm.conf")
        path = self.env.get("PATH", os.defpath).split(os.pathsep)
        self.env["PATH"] = os.pathsep.join(path + [d for d in SBIN if d not in path])

    def start(self, name: str, *args: str) -> None:
        with open(self.base / f"{name}.out", "wb") as out:
            self.procs.append((name, subprocess.Popen([_which(name) or name, *args], stdout=out,
                                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                      cwd=self.base)))

    def logs(self) -> str:
        parts = []
        for log in sorted(self.base.glob("*.log")) + sorted(self.base.glob("*.out")):
            parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(parts)

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"the test Slurm cluster's {name} exited ({proc.returncode}):\n{self.logs()}")

    def client(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=30)

    def wait_idle(self, timeout_s: float) -> None:
        """Until `sinfo` shows the node idle; RuntimeError, with the daemons' logs, when it does not in time."""
        deadline = time.monotonic() + timeout_s
        state = ""
        while time.monotonic() < deadline:
            self.check_alive()
            out = self.client("sinfo", "-h", "-n", NODE, "-o", "%T")
            state = out.stdout.strip() or out.stderr.strip()
            if out.returncode == 0 and state == "idle":
                return
            time.sleep(0.25)
        raise RuntimeError(f"the test Slurm node is not idle after {timeout_s:.0f} s (sinfo: {state!r}):\n"
                           f"{self.logs()}")

    def stop(self) -> None:
        """Cancel the jobs still queued or running, then stop the daemons this fixture started, last first."""
        if all(proc.poll() is None for _, proc in self.procs[1:]):
            try:
                self.client("scancel", f"--user={os.getuid()}")
                deadline = time.monotonic() + STOP_TIMEOUT_S
                while time.monotonic() < deadline and self.client("squeue", "-h", "-o", "%i").stdout.strip():
                    time.sleep(0.25)
            except (OSError, subprocess.SubprocessError):
                pass
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=STOP_TIMEOUT_S)


def start_cluster(base: Path) -> _Cluster:
    """munged, slurmctld and slurmd in the foreground (children of this process) with their files under `base`."""
    cluster = _Cluster(base)
    try:
        base.chmod(0o755)  # munged wants its socket's folder searchable by everyone
        for sub in ("state", "spool"):
            (base / sub).mkdir()
        key = base / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        sock = base / "munge.socket"
        cluster.start("munged", "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
                      f"--pid-file={base / 'munged.pid'}", f"--seed-file={base / 'munged.seed'}",
                      f"--log-file={base / 'munged.log'}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not sock.exists():
            cluster.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"munged made no socket in {START_TIMEOUT_S} s:\n{cluster.logs()}")
            time.sleep(0.05)
        conf = base / "slurm.conf"
        conf.write_text(slurm_conf(base, sock, free_port(), free_port()))
        cluster.start("slurmctld", "-D", "-f", str(conf))
        cluster.start("slurmd", "-D", "-N", NODE, "-f", str(conf))
        cluster.wait_idle(START_TIMEOUT_S)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[dict[str, str]]:
    """A running single-node Slurm cluster for the session: the environment (SLURM_CONF, PATH) to submit to it."""
    missing = [name for name in DAEMONS + CLIENTS if _which(name) is None]
    if missing:
        pytest.skip(f"{INSTALL} (missing {', '.join(missing)})")
    if os.geteuid() != 0:
        pytest.skip("the test Slurm cluster runs its daemons and jobs as root: run the tests as root (CI does)")
    base = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    try:
        cluster = start_cluster(base)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield cluster.env
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
