"""A private PostgreSQL + PostGIS cluster for development and tests (never for production).

The cluster listens only on a Unix socket inside its own directory (mode 0700), so only
its owner (and root) can reach it; inside, roles are trusted. As root, PostgreSQL runs
as the `postgres` system user, since it refuses to run as root.
"""

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

OWNER_ROLE = "csmap_owner"
APP_ROLE = "csmap_app"
BULK_KEYS_SINCE = 150000
"""From PostgreSQL 15 the owner role may be let set session_replication_role, which a concern import
uses to check its new rows' foreign keys a table at a time rather than row by row."""


SHARED_BUFFERS_MB = (128, 2048)
"""The cluster's shared buffers: a quarter of the machine's memory, within these bounds. PostgreSQL's
default (128 MB) is far below the indexes a large borough's concerns need; an import writing into
them then evicts and rereads index pages for most rows (1,000,000 concerns into the large demo, ad
hoc: 65 s at 128 MB, 52 s at 2 GB)."""


MAX_WAL_SIZE = "4GB"
"""WAL kept between checkpoints. At the default 1 GB a large import forces a checkpoint every
half-minute ("checkpoints are occurring too frequently"), and each one makes every page it touches
next go into the WAL whole again."""


def shared_buffers_mb() -> int:
    """A quarter of this machine's memory in megabytes, within SHARED_BUFFERS_MB."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    low, high = SHARED_BUFFERS_MB
    return max(low, min(high, memory // 4))


class LocalDatabaseError(RuntimeError):
    """The local cluster could not be prepared."""


def find_bindir() -> Path:
    """Return the newest PostgreSQL server bin directory on this machine."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise LocalDatabaseError(
        "PostgreSQL server binaries are missing: sudo apt-get install postgresql postgresql-15-postgis-3"
    )


def postgis_installed(bindir: Path) -> bool:
    """Say whether the PostGIS extension files exist for this server version."""
    version = bindir.parent.name
    return bool(glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"))


def _system_user() -> str | None:
    """The user to run the server as: `postgres` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as missing:
        raise LocalDatabaseError("Running as root needs the 'postgres' system user.") from missing
    return "postgres"


def _run(command: list[str], *, as_user: str | None) -> None:
    """Run a server command, as the postgres user when we are root."""
    if as_user is not None:
        command = ["runuser", "-u", as_user, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LocalDatabaseError(f"{' '.join(command)} failed:\n{result.stderr}")


def _ensure_reachable(path: Path, user: str) -> None:
    """Fail clearly when the server's user cannot reach the cluster directory."""
    check = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(path)], check=False)
    if check.returncode != 0:
        raise LocalDatabaseError(
            f"The '{user}' user cannot reach {path}: make its parent directories "
            "traversable (chmod o+x) or set DATABASE_URL to a PostGIS database."
        )


@dataclass(frozen=True, slots=True)
class Cluster:
    """A private cluster rooted at `root` (data in root/pg, socket in root/run)."""

    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        """Where the cluster's files live."""
        return self.root / "pg"

    @property
    def socket_dir(self) -> Path:
        """Where the server's Unix socket lives."""
        return self.root / "run"

    def url(self, role: str, database: str, driver: str = "postgresql+psycopg") -> str:
        """A connection URL for a role and database over the socket."""
        return f"{driver}://{role}@/{database}?host={self.socket_dir}&port={self.port}"

    def conninfo(self, role: str, database: str) -> str:
        """A libpq connection string for a role and database."""
        return f"host={self.socket_dir} port={self.port} user={role} dbname={database}"

    def is_running(self) -> bool:
        """Say whether the server accepts connections."""
        try:
            with psycopg.connect(self.conninfo("postgres", "postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def ensure_started(self) -> None:
        """Create the cluster if missing and start it if stopped."""
        bindir = find_bindir()
        if not postgis_installed(bindir):
            raise LocalDatabaseError(
                f"PostGIS is missing: sudo apt-get install postgresql-{bindir.parent.name}-postgis-3"
            )
        user = _system_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if user is not None:
            self.root.chmod(0o755)
            _ensure_reachable(self.root, user)
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
            directory.chmod(0o700)
            if user is not None:
                shutil.chown(directory, user=user, group=user)
        if not (self.data_dir / "PG_VERSION").exists():
            _run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                as_user=user,
            )
        if self.is_running():
            return
        options = (
            f"-k {self.socket_dir} -p {self.port} -c listen_addresses='' -c fsync=off "
            f"-c shared_buffers={shared_buffers_mb()}MB -c max_wal_size={MAX_WAL_SIZE}"
        )
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "server.log"),
                "-w",
                "-o",
                options,
                "start",
            ],
            as_user=user,
        )

    def stop(self) -> None:
        """Stop the server if it is running."""
        if (self.data_dir / "postmaster.pid").exists():
            _run(
                [str(find_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                as_user=_system_user(),
            )

    def ensure_database(self, database: str) -> None:
        """Create the owner and app roles, the database and PostGIS, if missing."""
        with psycopg.connect(self.conninfo("postgres", "postgres"), autocommit=True) as conn:
            for role in (OWNER_ROLE, APP_ROLE):
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            if conn.info.server_version >= BULK_KEYS_SINCE:
                conn.execute(
                    sql.SQL("GRANT SET ON PARAMETER session_replication_role TO {}").format(
                        sql.Identifier(OWNER_ROLE)
                    )
                )
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                    )
                )
        with psycopg.connect(self.conninfo("postgres", database), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(APP_ROLE)
                )
            )

    def clone_database(self, template: str, database: str) -> None:
        """Create `database` as a copy of `template` (which must have no connections)."""
        with psycopg.connect(self.conninfo("postgres", "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(template), sql.Identifier(OWNER_ROLE)
                )
            )

    def drop_database(self, database: str) -> None:
        """Drop a database, ending its connections."""
        with psycopg.connect(self.conninfo("postgres", "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
