"""One bench run in this process: a throwaway database and cache prefix, the scenarios, the report."""

from __future__ import annotations

import os
import platform
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict

from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import override_settings

from tools import toolbox

from .report import evaluate, mark_rows
from .scenarios import measure_all

FULL = {"thread_sizes": [30, 300, 3000], "inbox_sizes": [10_000, 100_000, 1_000_000], "unread": 3000,
        "unread_sizes": [100, 100_000], "repeat": 15}
QUICK = {"thread_sizes": [30, 300], "inbox_sizes": [10_000, 30_000], "unread": 1000, "unread_sizes": [100, 3000],
         "repeat": 5}


@contextmanager
def throwaway_database(*, name: str | None, log):
    """Point the default connection at a new, empty, migrated database; back to the configured one afterwards."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.in_atomic_block:
        raise CommandError("bench cannot run inside a transaction (it switches databases).")
    original = conn.settings_dict["NAME"]
    conn.close()
    with ExitStack() as stack:
        try:
            db = stack.enter_context(
                toolbox.throwaway_database(os.environ.get("DATABASE_URL", ""), "bench", name=name, log=log)
            )
        except ValueError as error:
            raise CommandError(f"bench: {error}") from None
        if db.vendor != conn.vendor:
            raise CommandError(f"bench: DATABASE_URL is {db.vendor} but the configured database is {conn.vendor}.")
        conn.settings_dict["NAME"] = db.name
        settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"] = db.name
        try:
            call_command("migrate", verbosity=0, interactive=False)
            yield db.label
        finally:
            conn.close()
            conn.settings_dict["NAME"] = original
            settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"] = original


@contextmanager
def throwaway_cache(*, log):
    """The configured cache backend under a key prefix of our own, emptied afterwards.

    On Redis this keeps bench keys (badge counts of bench user ids, cached pages)
    away from the developer's; on LocMemCache it only concerns this process.
    """
    cache = caches["default"]
    config = settings.CACHES["default"]
    redis_url = config["LOCATION"] if "redis" in config["BACKEND"].lower() else ""
    original = cache.key_prefix
    with toolbox.throwaway_cache_prefix("bench", redis_url, log=log) as prefix:
        cache.key_prefix = prefix
        try:
            yield cache
        finally:
            cache.key_prefix = original
            if not redis_url:
                cache.clear()


def server_version(conn) -> str:
    if conn.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with conn.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"


def run_bench(plan: dict, *, seed: int, db_name: str | None, explain: bool, stream) -> dict:
    """Measure every scenario of `plan` and check the targets; progress and log lines go to `stream`."""
    log = toolbox.Log(stream)
    if settings.DEBUG:
        log("Note: DEBUG is on; timings include Django's debug query log.")
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    if load_at_start[0] > (os.cpu_count() or 1) / 2:
        log(f"Note: load average {load_at_start[0]} before starting; other work on the machine skews timings.")
    conn = connections[DEFAULT_DB_ALIAS]
    with throwaway_database(name=db_name, log=log) as db_label, throwaway_cache(log=log):
        # The test client's host; plain static file URLs, so no collectstatic manifest is needed.
        storages = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"], STORAGES=storages):
            bench, plans, build_seconds = measure_all(conn, plan, seed=seed, stream=stream, log=log)
        vendor, server = conn.vendor, server_version(conn)
    rows = bench.rows
    targets = evaluate(rows)
    mark_rows(rows, targets)
    inbox_time_failed = any(t.scenario == "inbox-page" and not t.ok for t in targets)
    return {
        "database": vendor,
        "server_version": server,
        "throwaway": db_label,
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "plan": plan,
        "build_seconds": build_seconds,
        "total_seconds": round(time.perf_counter() - started, 1),
        "rows": [asdict(r) for r in rows],
        "targets": [asdict(t) for t in targets],
        "all_ok": all(t.ok for t in targets),
        "explain": plans if (explain or inbox_time_failed) else [],
    }
