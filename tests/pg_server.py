"""A throwaway PostgreSQL server from the system's package (Debian's postgresql-NN), for tests and benchmarks.

It runs on 127.0.0.1 at a free port with its data in a temporary folder, as the `postgres` user when we are
root (PostgreSQL refuses to run as root), trusting local connections; `stop()` shuts it down and removes it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def find_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (CHENDIAN_PG_BIN overrides), or None."""
    if os.environ.get("CHENDIAN_PG_BIN"):
        return Path(os.environ["CHENDIAN_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir: Path, *, durable: bool = False):
        self.bin = bin_dir
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="chendian-pg-"))
        self.data = self.dir / "data"
        self._user = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")  # KeyError: no postgres user to run it as
            os.chown(self.dir, self._user.pw_uid, self._user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        if not durable:  # a test's database dies with it: skip the disk flushes
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options, "-w", "start")

    def _run(self, program: str, *args: str) -> None:
        def as_postgres():
            os.setgid(self._user.pw_gid)
            os.setuid(self._user.pw_uid)

        subprocess.run([str(self.bin / program), *args], check=True, capture_output=True, cwd=self.dir,
                       preexec_fn=as_postgres if self._user else None)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
