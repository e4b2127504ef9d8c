"""`make loadtest`: serve the app with gunicorn on 127.0.0.1, drive it with locust, print the figures.

    LOADTEST_SECONDS=60 LOADTEST_USERS=50 LOADTEST_WORKERS=4 .venv/bin/python loadtest/run.py

With DATABASE_URL set it uses a throwaway PostgreSQL database next to it
(`<name>_loadtest`, dropped at the end), otherwise a temporary SQLite file;
with REDIS_URL set, Redis under a key prefix of its own (deleted at the end),
otherwise each worker's LocMemCache. Only 127.0.0.1 is ever contacted. The run
is bounded: gunicorn and locust are stopped at the end, on error or Ctrl+C too.

Exit status: 0 when the run completed (targets may still FAIL; set
LOADTEST_STRICT=1 to exit 1 then), 2 when it could not run.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from loadtest.processes import stop_process, wait_for_health  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

SECONDS = int(os.environ.get("LOADTEST_SECONDS", "60"))
USERS = int(os.environ.get("LOADTEST_USERS", "50"))
WORKERS = int(os.environ.get("LOADTEST_WORKERS", os.environ.get("WORKERS", "4")))
PORTS = range(8100, 8200)

# Targets.
BADGE_SHARE = 0.7
CONVERSATION_SHARE = 0.5
P99_MS = 250
MEMORY_GROWTH_MB = 16  # per worker, from the end of the warm-up to the end of the run
MEMORY_GROWTH_SHARE = 0.10


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8100-8199")


# --- Throwaway database and cache prefix -------------------------------------------------


class Backends:
    """A throwaway database (and cache prefix) for the server; removed by close()."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.pg_admin_url = None
        self.pg_name = None
        base_url = os.environ.get("DATABASE_URL", "")
        if base_url:
            parts = urlsplit(base_url)
            name = parts.path.lstrip("/") or "postgres"
            self.pg_name = f"{name}_loadtest"
            self.pg_admin_url = urlunsplit(parts._replace(path="/postgres"))
            self.database_url = urlunsplit(parts._replace(path=f"/{self.pg_name}"))
            self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            self._pg(f'CREATE DATABASE "{self.pg_name}"')
            self.database_label = f"PostgreSQL (throwaway database {self.pg_name})"
        else:
            self.database_url = f"sqlite:///{workdir / 'loadtest.sqlite3'}"
            self.database_label = "SQLite (throwaway file)"
        self.redis_url = os.environ.get("REDIS_URL", "")
        self.cache_prefix = f"loadtest-{os.getpid()}-{secrets.token_hex(4)}"
        self.cache_label = f"Redis (prefix {self.cache_prefix})" if self.redis_url else "LocMemCache (per worker)"

    def _pg(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def env(self) -> dict:
        env = {
            "DATABASE_URL": self.database_url,
            "CACHE_KEY_PREFIX": self.cache_prefix,
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def close(self) -> None:
        if self.pg_name:
            try:
                self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            except Exception as error:  # noqa: BLE001 - report and go on cleaning up
                log(f"could not drop {self.pg_name}: {error}")
        if self.redis_url:
            try:
                import redis

                client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
                keys = list(client.scan_iter(match=f"{self.cache_prefix}:*", count=1000))
                if keys:
                    client.delete(*keys)
            except Exception as error:  # noqa: BLE001
                log(f"could not clean the Redis keys: {error}")


# --- Processes -------------------------------------------------------------------------------


class MemorySampler(threading.Thread):
    """RSS of every gunicorn worker, twice a second."""

    def __init__(self, master_pid: int):
        super().__init__(daemon=True)
        self.master = psutil.Process(master_pid)
        self.samples: list[tuple[float, dict[int, int]]] = []
        self.stopping = threading.Event()
        self.t0 = time.time()

    def run(self):
        while not self.stopping.is_set():
            try:
                workers = {p.pid: p.memory_info().rss for p in self.master.children(recursive=True)}
            except psutil.Error:
                workers = {}
            self.samples.append((time.time(), workers))
            self.stopping.wait(0.5)

    def stop(self):
        self.stopping.set()
        self.join(timeout=2)


# --- Report ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def summarise(results: dict, memory: MemorySampler) -> dict:
    phases = {name: (start, end) for name, start, end in results["phases"]}
    settle = 0.5  # ignore the first half second of a phase (users still finishing the previous one)
    rows = []
    for row in results["rows"]:
        if row["phase"] in ("warm-up", "done"):
            continue
        start, end = phases[row["phase"]]
        window = [(s, lat) for s, lat in zip(row["starts"], row["latencies"]) if s >= start + settle]
        latencies = [lat for _, lat in window]
        seconds = max(end - start - settle, 0.001)
        rows.append(
            {
                "phase": row["phase"],
                "name": row["name"],
                "requests": len(row["latencies"]),
                "rps": len(window) / seconds,
                "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95),
                "p99": percentile(latencies, 99),
                "errors": row["errors"],
                "5xx": row["5xx"],
                "statuses": row["statuses"],
            }
        )
    order = {"ceiling": 0, "badge": 1, "conversation": 2, "mixed": 3}
    rows.sort(key=lambda r: (order.get(r["phase"], 9), -r["requests"]))
    ceiling = next((r["rps"] for r in rows if r["phase"] == "ceiling"), 0.0)
    for r in rows:
        r["share"] = r["rps"] / ceiling if ceiling and r["phase"] in ("badge", "conversation") else None

    # Memory: per worker, peak RSS and the growth from the end of the warm-up to the end of the run.
    warm_end = memory.t0 + 0  # replaced below with the locust clock
    if results.get("started_at"):
        warm_end = results["started_at"] + phases["warm-up"][1]
    workers = {}
    for moment, sample in memory.samples:
        for pid, rss in sample.items():
            w = workers.setdefault(pid, {"pid": pid, "peak": 0, "after_warmup": None, "last": 0})
            w["peak"] = max(w["peak"], rss)
            w["last"] = rss
            if moment >= warm_end and w["after_warmup"] is None:
                w["after_warmup"] = rss
    for w in workers.values():
        base = w["after_warmup"] or w["last"]
        w["growth"] = w["last"] - base
        w["steady"] = w["growth"] <= max(MEMORY_GROWTH_MB * 2**20, MEMORY_GROWTH_SHARE * base)
    return {"rows": rows, "ceiling_rps": ceiling, "workers": sorted(workers.values(), key=lambda w: w["pid"])}


def targets(summary: dict) -> list[tuple[bool, str, str]]:
    rows = summary["rows"]
    out = []
    fivexx = sum(r["5xx"] for r in rows)
    out.append((fivexx == 0, "zero 5xx", f"{fivexx} responses with status >= 500"))
    for phase, share, label in (("badge", BADGE_SHARE, "badge poll"), ("conversation", CONVERSATION_SHARE,
                                                                        "cached conversation partial")):
        row = next((r for r in rows if r["phase"] == phase), None)
        value = row["share"] if row and row["share"] is not None else 0.0
        out.append((value >= share, f"{label} >= {share} of the /healthz ceiling", f"{value:.2f}"))
    slow = [f"{r['name']} [{r['phase']}] {r['p99']:.0f} ms" for r in rows if not r["p99"] < P99_MS]
    worst = max(rows, key=lambda r: r["p99"]) if rows else None
    detail = "; ".join(slow) if slow else (f"worst {worst['name']} [{worst['phase']}] {worst['p99']:.0f} ms" if worst else "")
    out.append((not slow, f"p99 < {P99_MS} ms for every endpoint", detail))
    unsteady = [w for w in summary["workers"] if not w["steady"]]
    growth = ", ".join(f"{w['pid']}: {w['growth'] / 2**20:+.1f} MiB" for w in summary["workers"])
    out.append((bool(summary["workers"]) and not unsteady,
                f"memory steady (growth after warm-up <= {MEMORY_GROWTH_MB} MiB or {MEMORY_GROWTH_SHARE:.0%})",
                growth or "no worker sampled"))
    return out


def render(summary: dict, checks, header: list[str]) -> str:
    lines = [*header, ""]
    cols = ("Endpoint", "Phase", "Requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "Errors", "5xx", "vs /healthz")
    table = [cols]
    for r in summary["rows"]:
        table.append(
            (
                r["name"], r["phase"], f"{r['requests']:,}", f"{r['rps']:.1f}", f"{r['p50']:.0f}", f"{r['p95']:.0f}",
                f"{r['p99']:.0f}", str(r["errors"]), str(r["5xx"]), f"{r['share']:.2f}" if r["share"] is not None else "",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for i, row in enumerate(table):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [row[j].rjust(widths[j]) for j in range(2, len(cols))]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("-" * (sum(widths) + 2 * (len(cols) - 1)))
    lines += ["", "Gunicorn workers (RSS):"]
    for w in summary["workers"]:
        after = w["after_warmup"] or w["last"]
        lines.append(
            f"  pid {w['pid']}: peak {w['peak'] / 2**20:.1f} MiB, after warm-up {after / 2**20:.1f} MiB, "
            f"end {w['last'] / 2**20:.1f} MiB ({w['growth'] / 2**20:+.1f} MiB)"
        )
    lines += ["", "Targets:"]
    for ok, rule, detail in checks:
        lines.append(f"  {'PASS' if ok else 'FAIL'}  {rule} ({detail})")
    failed = [rule for ok, rule, _ in checks if not ok]
    lines += ["", "All targets hold." if not failed else f"FAIL: {len(failed)} target(s) missed: {'; '.join(failed)}"]
    return "\n".join(lines)


# --- Main ------------------------------------------------------------------------------------------


def main() -> int:
    out_dir = ROOT / ".bench"
    out_dir.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="dm-loadtest-"))
    backends = server = locust = sampler = None

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        backends = Backends(workdir)
        port = free_port()
        env = {
            **os.environ,
            **backends.env(),
            "DJANGO_SETTINGS_MODULE": "site_config.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "SECURE_HSTS_SECONDS": "0",
            "PLAIN_STATIC": "1",
            "RATE_LIMIT_LOGIN": "1000000",
            "RATE_LIMIT_SEND": "1000000",
            "LOG_LEVEL": "WARNING",
        }
        if not backends.redis_url:
            env.pop("REDIS_URL", None)
        python = str(BIN / "python")
        log(f"Database: {backends.database_label}; cache: {backends.cache_label}")
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        data = workdir / "people.json"
        log(f"Seeding {USERS} people...")
        subprocess.run([python, "loadtest/seed.py", str(data), str(USERS)], cwd=ROOT, env=env, check=True)

        server_log = open(out_dir / "loadtest-gunicorn.log", "w")
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "site_config.wsgi:application", "--bind", f"{HOST}:{port}",
             "--workers", str(WORKERS), "--worker-class", "sync", "--timeout", "30", "--graceful-timeout", "5",
             "--error-logfile", "-", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        base = f"http://{HOST}:{port}"
        wait_for_health(f"{base}/healthz", server)
        log(f"gunicorn: {WORKERS} sync workers on {base} (pid {server.pid})")
        sampler = MemorySampler(server.pid)
        sampler.start()

        results_path = workdir / "results.json"
        locust_log = open(out_dir / "loadtest-locust.log", "w")
        log(f"Driving it for {SECONDS}s with {USERS} locust users...")
        locust = subprocess.Popen(
            [str(BIN / "locust"), "-f", "loadtest/locustfile.py", "--headless", "--users", str(USERS),
             "--spawn-rate", str(USERS), "--run-time", f"{SECONDS}s", "--stop-timeout", "5", "--host", base,
             "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"],
            cwd=ROOT, env={**env, "LOADTEST_DATA": str(data), "LOADTEST_RESULTS": str(results_path),
                           "LOADTEST_SECONDS": str(SECONDS)},
            stdout=locust_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            locust.wait(timeout=SECONDS + 60)
        except subprocess.TimeoutExpired:
            log("locust ran past its time; stopping it")
        stop_process(locust, "locust")
        sampler.stop()
        if not results_path.exists():
            raise RuntimeError(f"locust wrote no results; see {out_dir / 'loadtest-locust.log'}")
        results = json.loads(results_path.read_text())
        summary = summarise(results, sampler)
        checks = targets(summary)
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
        header = [
            f"Load test: {SECONDS}s, {USERS} users, {WORKERS} gunicorn sync workers, {backends.database_label}, "
            f"{backends.cache_label}",
            f"Machine: {os.cpu_count()} CPUs ({cpu}); locust runs on the same machine.",
            "Phases (s): " + ", ".join(f"{name} {start:.0f}-{end:.0f}" for name, start, end in results["phases"]),
        ]
        report = render(summary, checks, header)
        print(report)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (out_dir / f"loadtest-{stamp}.json").write_text(
            json.dumps({"header": header, "summary": summary, "targets": checks}, indent=2)
        )
        log(f"Saved .bench/loadtest-{stamp}.json; server log .bench/loadtest-gunicorn.log")
        if os.environ.get("LOADTEST_STRICT") == "1" and not all(ok for ok, _, _ in checks):
            return 1
        return 0
    except KeyboardInterrupt:
        log("Interrupted.")
        return 2
    except (RuntimeError, subprocess.CalledProcessError, OSError) as error:
        log(f"Load test could not run: {error}")
        return 2
    finally:
        if sampler is not None:
            sampler.stop()
        stop_process(locust, "locust")
        stop_process(server, "gunicorn")
        if backends is not None:
            backends.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
