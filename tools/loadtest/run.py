"""`make loadtest`: serve the app with uvicorn (as `make serve`) on 127.0.0.1, drive it with locust, print the figures.

    LOADTEST_SECONDS=60 LOADTEST_USERS=50 LOADTEST_WORKERS=4 .venv/bin/python -m tools.loadtest.run

With DATABASE_URL set to PostgreSQL it uses a throwaway database next to it
(`<name>_loadtest`, dropped at the end), otherwise a temporary SQLite file;
with REDIS_URL set, Redis under a key prefix of its own (deleted at the end),
otherwise each worker's LocMemCache. Only 127.0.0.1 is ever contacted. The run
is bounded: the server and locust are stopped at the end, on error or Ctrl+C too.

Exit status: 0 when the run completed (targets may still FAIL; set
LOADTEST_STRICT=1 to exit 1 then), 2 when it could not run.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

from tools import toolbox
from tools.loadtest.live import run_live
from tools.toolbox import BIN, HOST, ROOT, log, text_table

SECONDS = int(os.environ.get("LOADTEST_SECONDS", "60"))
USERS = int(os.environ.get("LOADTEST_USERS", "50"))
WORKERS = int(os.environ.get("LOADTEST_WORKERS", os.environ.get("WORKERS", "4")))

# Targets.
# Shares of the bare Django project's hello-world, served the same way in the same run.
BADGE_SHARE = 0.7
CONVERSATION_SHARE = 0.6
P99_MS = 250
MEMORY_GROWTH_MB = 16  # per worker, from the end of the warm-up to the end of the run
MEMORY_GROWTH_SHARE = 0.10

# The live phase (tools/loadtest/live.py): streams held on two servers sharing one Redis.
LIVE_STREAMS = int(os.environ.get("LOADTEST_LIVE_STREAMS", "1000"))
LIVE_SECONDS = int(os.environ.get("LOADTEST_LIVE_SECONDS", "30"))
LIVE_SENDERS = int(os.environ.get("LOADTEST_LIVE_SENDERS", "20"))
LIVE_P99_MS = 250
LIVE_KIB_PER_STREAM = 64


# --- Memory ----------------------------------------------------------------------------------


class MemorySampler(threading.Thread):
    """RSS of every server worker process, twice a second."""

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
    order = {"bare": 0, "ceiling": 1, "badge": 2, "conversation": 3, "mixed": 4}
    rows.sort(key=lambda r: (order.get(r["phase"], 9), -r["requests"]))
    ceiling = next((r["rps"] for r in rows if r["phase"] == "ceiling"), 0.0)
    bare = next((r["rps"] for r in rows if r["phase"] == "bare"), 0.0)
    for r in rows:
        hot = r["phase"] in ("ceiling", "badge", "conversation")
        r["share"] = r["rps"] / ceiling if ceiling and hot and r["phase"] != "ceiling" else None
        r["bare_share"] = r["rps"] / bare if bare and hot else None

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
    return {"rows": rows, "ceiling_rps": ceiling, "bare_rps": bare, "workers": sorted(workers.values(), key=lambda w: w["pid"])}


def targets(summary: dict) -> list[tuple[bool, str, str]]:
    rows = summary["rows"]
    out = []
    fivexx = sum(r["5xx"] for r in rows)
    out.append((fivexx == 0, "zero 5xx", f"{fivexx} responses with status >= 500"))
    for phase, share, label in (("badge", BADGE_SHARE, "badge poll"), ("conversation", CONVERSATION_SHARE,
                                                                        "cached conversation partial")):
        row = next((r for r in rows if r["phase"] == phase), None)
        value = row["bare_share"] if row and row["bare_share"] is not None else 0.0
        healthz = row["share"] if row and row["share"] is not None else 0.0
        out.append((value >= share, f"{label} >= {share} of the bare Django app's hello-world",
                    f"{value:.2f}; {healthz:.2f} of our /healthz"))
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


def live_targets(live: dict) -> list[tuple[bool, str, str]]:
    return [
        (live["streams_open"] == live["streams_wanted"], f"{live['streams_wanted']:,} streams held open",
         f"{live['streams_open']:,} open, per server {live['streams_per_server']}"),
        (live["p99_ms"] is not None and live["p99_ms"] <= LIVE_P99_MS,
         f"delivery across processes: p99 <= {LIVE_P99_MS} ms",
         f"p50 {live['p50_ms']:.0f} ms, p99 {live['p99_ms']:.0f} ms, max {live['max_ms']:.0f} ms over "
         f"{live['delivered']:,} deliveries" if live["p99_ms"] is not None else "nothing delivered"),
        (live["kib_per_stream"] is not None and live["kib_per_stream"] <= LIVE_KIB_PER_STREAM,
         f"worker memory <= {LIVE_KIB_PER_STREAM} KiB per open stream",
         f"{live['kib_per_stream']:.1f} KiB" if live["kib_per_stream"] is not None else "no stream"),
        (live["lost"] == 0 and live["send_errors"] == 0, "no event lost (every send reached its stream)",
         f"{live['lost']} lost, {live['send_errors']} sends failed, of {live['sends']:,}"),
        (live["duplicated"] == 0, "no event duplicated", f"{live['duplicated']} duplicated"),
    ]


def run_live_phase(cleanup, env: dict, redis_url: str, workdir: Path, out_dir: Path) -> dict:
    """Two servers of one worker each (two "hosts"), one Redis, LIVE_STREAMS streams."""
    if not redis_url:
        redis_server = toolbox.RedisServer(workdir)
        redis_server.start()
        cleanup.callback(redis_server.stop)
        redis_url = redis_server.url
    live_env = {**env, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}
    data = workdir / "live.json"
    log(f"live: seeding {LIVE_STREAMS:,} listeners and {LIVE_SENDERS} senders...")
    toolbox.run_python("-m", "tools.loadtest.seed_live", str(data), str(LIVE_STREAMS), str(LIVE_SENDERS), env=live_env)
    seeded = json.loads(data.read_text())
    servers = []
    for name in ("a", "b"):
        port = toolbox.free_port()
        proc = toolbox.serve(port=port, workers=1, env=live_env, log_path=out_dir / f"loadtest-live-{name}.log")
        cleanup.callback(toolbox.stop_process, proc, f"uvicorn {name}")
        servers.append((port, proc))
    log(f"live: two servers on ports {[p for p, _ in servers]}, Redis {redis_url.rsplit('@', 1)[-1]}")
    report = asyncio.run(
        run_live(seeded["people"], seeded["senders"], [p for p, _ in servers], [proc.pid for _, proc in servers],
                 seconds=LIVE_SECONDS, concurrency=LIVE_SENDERS, log=log)
    )  # fmt: skip
    for _, proc in servers:
        toolbox.stop_process(proc, "uvicorn")
    return report.summary()


def render(summary: dict, checks, header: list[str]) -> str:
    lines = [*header, ""]
    cols = ("Endpoint", "Phase", "Requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "Errors", "5xx", "vs bare",
            "vs /healthz")
    table = [cols]
    for r in summary["rows"]:
        table.append(
            (
                r["name"], r["phase"], f"{r['requests']:,}", f"{r['rps']:.1f}", f"{r['p50']:.0f}", f"{r['p95']:.0f}",
                f"{r['p99']:.0f}", str(r["errors"]), str(r["5xx"]),
                f"{r['bare_share']:.2f}" if r.get("bare_share") is not None else "",
                f"{r['share']:.2f}" if r["share"] is not None else "",
            )
        )
    lines += text_table(table, "ll" + "r" * (len(cols) - 2))
    live = summary.get("live")
    if live:
        lines += ["", f"Live phase: {live['streams_open']:,} event streams on two servers sharing Redis; "
                  f"{live['sends']:,} messages sent through the other server",
                  f"  delivery p50 {live['p50_ms'] or 0:.0f} ms, p99 {live['p99_ms'] or 0:.0f} ms, "
                  f"max {live['max_ms'] or 0:.0f} ms; {live['lost']} lost, {live['duplicated']} duplicated; "
                  f"{live['kib_per_stream'] or 0:.1f} KiB per stream"]
    lines += ["", "Server workers (RSS):"]
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
    redis_url = os.environ.get("REDIS_URL", "")
    toolbox.interrupt_on_sigterm()
    try:
        with ExitStack() as cleanup:
            db = cleanup.enter_context(toolbox.throwaway_database(os.environ.get("DATABASE_URL", ""), "loadtest"))
            prefix = cleanup.enter_context(toolbox.throwaway_cache_prefix("loadtest", redis_url))
            database_label = (f"PostgreSQL (throwaway database {db.name})" if db.vendor == "postgresql"
                              else "SQLite (throwaway file)")  # fmt: skip
            cache_label = f"Redis (prefix {prefix})" if redis_url else "LocMemCache (per worker)"
            env = toolbox.server_env(
                DATABASE_URL=db.url,
                CACHE_KEY_PREFIX=prefix,
                ALLOWED_HOSTS=f"{HOST},localhost",
                RATE_LIMIT_LOGIN="1000000/m",
                RATE_LIMIT_SEND="1000000/m",
                LOG_LEVEL="WARNING",
            )
            if not redis_url:
                env.pop("REDIS_URL", None)
            log(f"Database: {database_label}; cache: {cache_label}")
            toolbox.run_python("manage.py", "migrate", "--noinput", "-v0", env=env)
            data = workdir / "people.json"
            log(f"Seeding {USERS} people...")
            toolbox.run_python("-m", "tools.loadtest.seed", str(data), str(USERS), env=env)

            port = toolbox.free_port()
            server = toolbox.serve(port=port, workers=WORKERS, env=env, log_path=out_dir / "loadtest-server.log")
            cleanup.callback(toolbox.stop_process, server, "uvicorn")
            base = f"http://{HOST}:{port}"
            log(f"uvicorn: {WORKERS} ASGI workers on {base} (pid {server.pid})")
            bare_port = toolbox.free_port()
            bare = toolbox.serve_bare(port=bare_port, workers=WORKERS, env=env, log_path=out_dir / "loadtest-bare.log")
            cleanup.callback(toolbox.stop_process, bare, "uvicorn (bare)")
            bare_url = f"http://{HOST}:{bare_port}/hello/"
            log(f"uvicorn: the bare Django project, {WORKERS} ASGI workers on {bare_url}")
            sampler = MemorySampler(server.pid)
            sampler.start()
            cleanup.callback(sampler.stop)

            results_path = workdir / "results.json"
            log(f"Driving it for {SECONDS}s with {USERS} locust users...")
            locust = toolbox.start_process(
                [str(BIN / "locust"), "-f", "tools/loadtest/locustfile.py", "--headless", "--users", str(USERS),
                 "--spawn-rate", str(USERS), "--run-time", f"{SECONDS}s", "--stop-timeout", "5", "--host", base,
                 "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"],
                env={**env, "LOADTEST_DATA": str(data), "LOADTEST_RESULTS": str(results_path),
                     "LOADTEST_BARE_URL": bare_url,
                     "LOADTEST_SECONDS": str(SECONDS)},
                log_path=out_dir / "loadtest-locust.log",
            )  # fmt: skip
            cleanup.callback(toolbox.stop_process, locust, "locust")
            try:
                locust.wait(timeout=SECONDS + 60)
            except subprocess.TimeoutExpired:
                log("locust ran past its time; stopping it")
            toolbox.stop_process(locust, "locust")
            sampler.stop()
            if not results_path.exists():
                raise RuntimeError(f"locust wrote no results; see {out_dir / 'loadtest-locust.log'}")
            results = json.loads(results_path.read_text())
            summary = summarise(results, sampler)
            checks = targets(summary)
            toolbox.stop_process(server, "uvicorn")  # the live phase runs servers of its own
            toolbox.stop_process(bare, "uvicorn (bare)")
            if LIVE_STREAMS:
                summary["live"] = run_live_phase(cleanup, env, redis_url, workdir, out_dir)
                checks += live_targets(summary["live"])
            cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                        if line.startswith("model name")), "?")  # fmt: skip
            header = [
                f"Load test: {SECONDS}s, {USERS} users, {WORKERS} uvicorn workers, {database_label}, "
                f"{cache_label}",
                f"Machine: {os.cpu_count()} CPUs ({cpu}); locust runs on the same machine.",
                "Phases (s): " + ", ".join(f"{name} {start:.0f}-{end:.0f}" for name, start, end in results["phases"]),
            ]
            report = render(summary, checks, header)
            print(report)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            (out_dir / f"loadtest-{stamp}.json").write_text(
                json.dumps({"header": header, "summary": summary, "targets": checks}, indent=2)
            )
            log(f"Saved .bench/loadtest-{stamp}.json; server log .bench/loadtest-server.log")
        if os.environ.get("LOADTEST_STRICT") == "1" and not all(ok for ok, _, _ in checks):
            return 1
        return 0
    except KeyboardInterrupt:
        log("Interrupted.")
        return 2
    except (RuntimeError, ValueError, subprocess.CalledProcessError, OSError) as error:
        log(f"Load test could not run: {error}")
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
