"""A private PostgreSQL server for the tests, from Debian's binaries (as pytest-postgresql runs one): a fresh
cluster in a temporary folder, listening on loopback only, with a password user; stopped and deleted after."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def binaries() -> Path | None:
    """Return the newest installed PostgreSQL server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


@dataclass
class Server:
    """A running private server: connect as ``user`` with ``password`` to ``database`` on ``port``."""

    port: int
    user: str
    password: str
    database: str
    bin: Path
    folder: Path

    @property
    def url(self) -> str:
        """The store address without the password (as onshi_cert_store is written)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def createdb(self, name: str) -> str:
        """Create a database ``name``; return its address (without the password)."""
        env = os.environ | {"PGPASSWORD": self.password}
        subprocess.run(
            [self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """Start a private PostgreSQL server; stop and delete it when the block ends."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries: apt-get install postgresql (scripts/system-deps.sh)")
    folder = Path(tempfile.mkdtemp(prefix="onshi-pg-"))
    as_root = os.geteuid() == 0  # initdb refuses root: the cluster then belongs to the postgres user
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    (folder / "pw").write_text("s3cret-pg\n")
    if as_root:
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "pw", "postgres")
    port = _free_port()
    data, log = folder / "data", folder / "log"

    def run(*args: str | Path) -> None:
        subprocess.run([*prefix, *map(str, args)], check=True, capture_output=True, cwd=folder)

    try:
        run(bin_dir / "initdb", "-D", data, "-U", "onshi", "--auth=scram-sha-256", f"--pwfile={folder / 'pw'}",
            "-E", "UTF8", "--no-locale")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=120"
        run(bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start")
        made = Server(port, "onshi", "s3cret-pg", "onshi_cert", bin_dir, folder)
        made.createdb("onshi_cert")
        yield made
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
