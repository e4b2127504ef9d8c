"""What `make bench`, `make loadtest` and `make faults` share: throwaway databases and cache
key prefixes, free ports on 127.0.0.1, the server processes they start, a log on stderr
and the layout of their tables.

Everything here touches only what it made itself: a database `<name>_<suffix>` next to
DATABASE_URL's (or a temporary SQLite file), cache keys under a prefix of its own, processes
it started (each in a process group of its own, so its children go with it).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


class Log:
    """Lines on stderr (or `stream`), each stamped with the seconds since the tool started."""

    def __init__(self, stream=None):
        self.stream = stream
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, text: str) -> None:
        print(f"[{self.elapsed():5.1f}s] {text}", file=self.stream or sys.stderr, flush=True)


log = Log()


# --- Throwaway database and cache key prefix ---------------------------------------------


@dataclass
class Database:
    vendor: str  # "sqlite" or "postgresql", as Django names them
    name: str  # the PostgreSQL database, or the SQLite file
    url: str  # for DATABASE_URL

    @property
    def label(self) -> str:
        return f"{self.vendor} {'file' if self.vendor == 'sqlite' else 'database'} {self.name}"


@contextmanager
def throwaway_database(base_url: str, suffix: str, *, name: str | None = None, log=log):
    """A new, empty database for one run, removed afterwards (on errors and Ctrl+C too).

    With a PostgreSQL `base_url`: `<its name>_<suffix>` (or `name`) on the same server;
    otherwise (unset, or SQLite) a file in a new temporary directory.
    """
    parts = urlsplit(base_url)
    if parts.scheme in POSTGRES_SCHEMES:
        configured = parts.path.lstrip("/") or "postgres"
        name = name or f"{configured}_{suffix}"
        if name == configured:
            raise ValueError(f"The throwaway database must not be the configured one ({configured}).")
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        database = Database("postgresql", name, urlunsplit(parts._replace(path=f"/{name}")))
        _drop_postgres_database(admin_url, name, then_create=True)
    elif parts.scheme in ("", "sqlite"):
        tmpdir = tempfile.mkdtemp(prefix=f"dm-{suffix}-")
        path = os.path.join(tmpdir, f"{suffix}.sqlite3")
        database = Database("sqlite", path, f"sqlite:///{path}")
    else:
        raise ValueError(f"SQLite and PostgreSQL are supported, not {parts.scheme}.")
    log(f"Throwaway database: {database.label}")
    try:
        yield database
    finally:
        try:
            if database.vendor == "sqlite":
                shutil.rmtree(tmpdir, ignore_errors=True)
            else:
                _drop_postgres_database(admin_url, name)
            log(f"Dropped {database.label}")
        except Exception as error:  # noqa: BLE001 - reported; the run's own outcome stands
            log(f"could not drop {database.label}: {error}")


def _drop_postgres_database(admin_url: str, name: str, *, then_create: bool = False) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        # WITH (FORCE) (PostgreSQL 13+) also ends connections that a crashed run left open.
        force = sql.SQL(" WITH (FORCE)" if conn.info.server_version >= 130000 else "")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force))
        if then_create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextmanager
def throwaway_cache_prefix(tool: str, redis_url: str = "", *, log=log):
    """A cache key prefix of our own (`<tool>-<pid>-<random>`). With `redis_url`, its keys
    are deleted afterwards: only ours, never a FLUSHDB of a shared Redis."""
    prefix = f"{tool}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        if redis_url:
            try:
                import redis

                client = redis.Redis.from_url(redis_url, socket_timeout=2)
                keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
                if keys:
                    client.delete(*keys)
            except Exception as error:  # noqa: BLE001 - reported; the run's own outcome stands
                log(f"could not clean the Redis keys under {prefix}: {error}")


# --- Ports and processes ------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the system picks it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_process(cmd: list[str], *, env: dict | None = None, log_path: Path | None = None) -> subprocess.Popen:
    """`cmd` from the project root, in a process group of its own, output to `log_path` (or nowhere)."""
    if log_path is None:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    with open(log_path, "w") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen | None, name: str) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop in time; killing it")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def wait_for_health(url: str, proc: subprocess.Popen, name: str, seconds: float = 30) -> None:
    """Until `url` answers 200; an error if the process exits or the time runs out."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f}s")


def server_env(**overrides: str) -> dict:
    """The environment of a production-style server on 127.0.0.1 for one run."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "site_config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "PLAIN_STATIC": "1",
        **overrides,
    }


def run_python(*args: str, env: dict, timeout: float | None = None) -> None:
    """`python <args>` with this interpreter, from the project root; an error if it fails."""
    subprocess.run([str(BIN / "python"), *args], cwd=ROOT, env=env, check=True, timeout=timeout)


def serve_bare(*, port: int, workers: int, env: dict, log_path: Path) -> subprocess.Popen:
    """The bare Django project (tools/loadtest/bare: no middleware, no database, hello world),
    served as the app is (`serve`): the load test's yardstick."""
    return serve(port=port, workers=workers, env={**env, "DJANGO_SETTINGS_MODULE": "tools.loadtest.bare.settings"},
                 log_path=log_path)  # fmt: skip


def serve(*, port: int, workers: int, env: dict, log_path: Path) -> subprocess.Popen:
    """The app as `make serve` runs it (uvicorn, `workers` ASGI worker processes) on
    127.0.0.1:`port`, returned once /healthz answers. With 2 or more workers the returned
    process is uvicorn's supervisor and the workers are its children (`worker_pids`)."""
    proc = start_process(
        [str(BIN / "uvicorn"), "site_config.asgi:application", "--host", HOST, "--port", str(port),
         "--workers", str(workers), "--timeout-graceful-shutdown", "5", "--no-access-log",
         "--log-level", "warning"],
        env=env, log_path=log_path,
    )  # fmt: skip
    try:
        wait_for_health(f"http://{HOST}:{port}/healthz", proc, "uvicorn")
    except RuntimeError as error:
        stop_process(proc, "uvicorn")
        raise RuntimeError(f"uvicorn did not come up ({error}); see {log_path}") from error
    return proc


def worker_pids(proc: subprocess.Popen) -> set[int]:
    """The processes that serve requests: uvicorn's workers, or uvicorn itself with one worker."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children()
    except psutil.NoSuchProcess:
        return set()
    # uvicorn's supervisor also starts a resource tracker for multiprocessing: not a worker.
    workers = {c.pid for c in children if "multiprocessing" not in " ".join(c.cmdline())}
    return workers or {proc.pid}


class RedisServer:
    """A redis-server of our own on a free 127.0.0.1 port, without persistence."""

    def __init__(self, workdir: Path):
        import redis

        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.client = redis.Redis(host=HOST, port=self.port, socket_timeout=2)
        self.url = f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self.proc = start_process(
            ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")]
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client.ping():
                    return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        stop_process(self.proc, "redis-server")
        self.proc = None


def interrupt_on_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`) then acts as Ctrl+C: every `finally` stops what was started."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


# --- Tables ------------------------------------------------------------------------------


def text_table(rows: list[tuple[str, ...]], align: str) -> list[str]:
    """The lines of a table: the first row is the header, with a rule under it. `align` has an
    "l" or "r" per column; a left-aligned last column is not padded (no trailing blanks)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) if side == "l" else cell.rjust(w) for cell, w, side in zip(row, widths, align)]
        if align[-1] == "l":
            cells[-1] = row[-1]
        lines.append("  ".join(cells))
    return [lines[0], "-" * len(lines[0]), *lines[1:]]
