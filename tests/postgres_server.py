"""A throwaway PostgreSQL server for tests, started from Debian's package binaries (/usr/lib/postgresql/*/bin).

`postgres_server` (session): one server on 127.0.0.1 and a free port, trust authentication for user `bench`, data
and socket in a temporary folder, stopped (`pg_ctl stop -m immediate`) and removed when the session ends. As root,
initdb and pg_ctl run as the `postgres` user. `postgres_url` (function): a fresh, empty database on it, as
postgresql+psycopg://bench@127.0.0.1:PORT/NAME, dropped after the test. `store_target` (function, parametrized):
a fresh results store on each dialect, a SQLite file path or a `postgres_url`. Without the binaries or psycopg the
tests that ask for a server are skipped, saying how to install what is missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
PG_USER = "bench"
HOST = "127.0.0.1"
START_TIMEOUT_S = 60
INSTALL_SERVER = "install the PostgreSQL server: sudo apt-get install postgresql"
INSTALL_PSYCOPG = "install the [postgres] extra: pip install -c constraints.txt -e '.[postgres]'"


def pg_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, or None."""
    found = [Path(d) for d in glob.glob(PG_BIN_GLOB) if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists()]
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0, default=None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    """A running test server: where it listens and how to make databases on it."""

    bin_dir: Path
    data_dir: Path
    port: int
    as_user: str | None
    """The system user the server runs as when the tests run as root; None: the current user."""

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://{PG_USER}@{HOST}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement (autocommit) in the maintenance database."""
        import psycopg

        with psycopg.connect(host=HOST, port=self.port, user=PG_USER, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def stop(self) -> None:
        """Stop at once (the data are thrown away)."""
        _pg(self, "pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", check=False)


def _pg(server: PostgresServer, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool, as the server's user when the tests run as root."""
    command = [str(server.bin_dir / tool), *args]
    if server.as_user:
        command = ["runuser", "-u", server.as_user, "--", *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S + 30,
                         cwd=server.data_dir.parent)  # a folder the server's user may enter
    if check and out.returncode != 0:
        raise RuntimeError(f"{tool} failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-2000:]}")
    return out


def start_server(bin_dir: Path, base: Path, as_user: str | None, attempts: int = 3) -> PostgresServer:
    """initdb a cluster under `base` and start it on a free port (another port if that one was taken meanwhile)."""
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    if as_user:
        entry = pwd.getpwnam(as_user)
        for path in (base, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bin_dir, data, 0, as_user)
    _pg(server, "initdb", "-D", str(data), "-U", PG_USER, "-A", "trust", "--no-locale", "-E", "UTF8", "--no-sync")
    (data / "pg_hba.conf").write_text(f"local all all trust\nhost all {PG_USER} {HOST}/32 trust\n")
    for _ in range(attempts):
        server = PostgresServer(bin_dir, data, free_port(), as_user)
        options = (f"-c listen_addresses={HOST} -p {server.port} -k {sockets} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        out = _pg(server, "pg_ctl", "start", "-D", str(data), "-l", str(base / "server.log"), "-w",
                  "-t", str(START_TIMEOUT_S), "-o", options, check=False)
        if out.returncode == 0:
            return server
    log = (base / "server.log").read_text(errors="replace")[-2000:] if (base / "server.log").exists() else ""
    raise RuntimeError(f"the test PostgreSQL server did not start: {out.stderr.strip()}\n{log}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (skipped, with what to install, without binaries or psycopg)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip(f"psycopg is not installed; {INSTALL_PSYCOPG}")
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        pytest.skip(f"no PostgreSQL server binaries in {PG_BIN_GLOB}; {INSTALL_SERVER}")
    as_user = None
    if os.geteuid() == 0:  # initdb and the server refuse root
        try:
            as_user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip(f"running as root needs the 'postgres' system user to run the server; {INSTALL_SERVER}")
    base = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    try:
        server = start_server(bin_dir, base, as_user)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server: postgresql+psycopg://bench@127.0.0.1:PORT/NAME."""
    name = f"test_{secrets.token_hex(6)}"
    postgres_server.admin(f'CREATE DATABASE "{name}"')
    yield postgres_server.url(name)
    postgres_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh results-store target on each dialect: a SQLite file path, or an empty database on the test server."""
    return str(tmp_path / "store.sqlite") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
