"""Measuring: each case warmed up, run once with its queries captured, then timed `repeat` times."""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field

from django.test.utils import CaptureQueriesContext
from django.urls import reverse

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


@dataclass
class Row:
    scenario: str
    label: str
    size: int
    size_label: str
    queries: int
    app_queries: int
    auth_queries: int
    median_ms: float
    min_ms: float
    # Time inside cursor.execute() on the captured run: on PostgreSQL the whole result
    # arrives then; on SQLite rows after the first are stepped through later, while fetching.
    sql_ms: float
    runs: int
    target: str = "-"
    sql: list[str] = field(default_factory=list)


def statements(captured) -> list[str]:
    return [q["sql"] for q in captured if not q["sql"].lstrip().upper().startswith(TRANSACTION_CONTROL)]


def is_app_query(sql: str) -> bool:
    return '"messaging_' in sql


def is_auth_query(sql: str) -> bool:
    return not is_app_query(sql) and ('"django_session"' in sql or '"auth_user"' in sql)


class Bench:
    def __init__(self, conn, *, repeat: int, log):
        self.conn = conn
        self.repeat = repeat
        self.log = log
        self.rows: list[Row] = []

    def measure(self, scenario, label, size, size_label, fn, *, setup=None, check=None):
        return self.measure_series(scenario, label, [(size, size_label, fn, check)], setup=setup)[0]

    def measure_series(self, scenario, label, cases, *, setup=None):
        """Each case: one warm-up, one run with queries captured; then `repeat` timed rounds
        over all cases in turn (no capture), so a burst of noise on the machine hits every size alike."""
        setup = setup or (lambda: None)
        captured_by_case = []
        for size, size_label, fn, check in cases:
            setup()
            result = fn()
            if check:
                check(result)
            setup()
            sql_seconds = [0.0]

            def timed(execute, sql, params, many, context, sql_seconds=sql_seconds):
                started = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    sql_seconds[0] += time.perf_counter() - started

            with CaptureQueriesContext(self.conn) as captured, self.conn.execute_wrapper(timed):
                fn()
            captured_by_case.append((captured.captured_queries, sql_seconds[0]))
        times = [[] for _ in cases]
        # As timeit does: no garbage-collector pause (left over from building a million
        # rows) lands inside a timed run.
        gc.collect()
        gc.disable()
        try:
            for _ in range(self.repeat):
                for i, (_, _, fn, _) in enumerate(cases):
                    setup()
                    started = time.perf_counter()
                    fn()
                    times[i].append((time.perf_counter() - started) * 1000)
        finally:
            gc.enable()
        rows = []
        for (size, size_label, _, _), (queries, sql_seconds), runs in zip(cases, captured_by_case, times):
            sql = statements(queries)
            row = Row(
                scenario=scenario,
                label=label,
                size=size,
                size_label=size_label,
                queries=len(sql),
                app_queries=sum(map(is_app_query, sql)),
                auth_queries=sum(map(is_auth_query, sql)),
                median_ms=round(statistics.median(runs), 2),
                min_ms=round(min(runs), 2),
                sql_ms=round(sql_seconds * 1000, 2),
                runs=len(runs),
                sql=sql,
            )
            self.rows.append(row)
            rows.append(row)
            self.log(
                f"  {label:<34} {size_label:<24} {row.queries:>2} queries ({row.app_queries} app)  "
                f"{row.median_ms:9.2f} ms"
            )
        return rows


def ok_status(response):
    assert response.status_code == 200, (response.status_code, response.content[:300])


def explain_inbox(conn, client) -> list[dict]:
    """The plans of the inbox page's queries on messaging tables, run with their real parameters."""
    recorded = []

    def record(execute, sql, params, many, context):
        recorded.append((sql, params))
        return execute(sql, params, many, context)

    with conn.execute_wrapper(record):
        ok_status(client.get(reverse("messaging:inbox"), secure=True))
    plans = []
    prefix = "EXPLAIN QUERY PLAN " if conn.vendor == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    for sql, params in recorded:
        if not is_app_query(sql) or not sql.lstrip().upper().startswith("SELECT"):
            continue
        with conn.cursor() as cursor:
            cursor.execute(prefix + sql, params)
            lines = [" | ".join(str(c) for c in row) if conn.vendor == "sqlite" else row[0] for row in cursor.fetchall()]
        plans.append({"sql": sql % tuple(repr(p) for p in params) if params else sql, "plan": lines})
    return plans
