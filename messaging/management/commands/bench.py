"""Query counts and timings of the busy paths, measured on a throwaway database.

    python manage.py bench            # full sizes (1,000,000 messages at the top)
    python manage.py bench --quick    # small sizes, for CI
    python manage.py bench --json     # machine-readable

The command never touches the developer's database or cache: it points the
default connection at a temporary SQLite file (or, on PostgreSQL, at a
`<name>_bench` database it creates and drops) and gives the cache its own key
prefix, then restores both.

Rows are written with bulk_create and explicit ids, so no signal runs while
building; the fields the signals would fill (conversation, version,
changed_version, last_message_at) are set by hand.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from itertools import count

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from messaging import actions
from messaging.models import Conversation, Message, MessageHistory, Notification
from messaging.pagination import keyset_page
from messaging.threads import build_tree
from messaging.unread import BADGE_TOKEN_HEADER, badge_token, forget_badges

User = get_user_model()
HX = {"HX-Request": "true"}
BATCH = 10_000
MAX_THREAD_DEPTH = 50

FULL = {"thread_sizes": [30, 300, 3000], "inbox_sizes": [10_000, 100_000, 1_000_000], "unread": 3000, "repeat": 15}
QUICK = {"thread_sizes": [30, 300], "inbox_sizes": [10_000, 30_000], "unread": 1000, "repeat": 5}

# Targets (see docs/performance.md).
THREAD_MAX_QUERIES = 3
INBOX_MAX_QUERIES = 6
INBOX_MAX_SLOWDOWN = 1.5
SEND_MAX_QUERIES = 6
# Timings are noisy on a shared 2-core machine: "no faster than the reply count"
# allows this much on top of the size ratio.
GROWTH_SLACK = 1.2

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


# --- Output helpers -----------------------------------------------------------------------


class Progress:
    """One progress line on stderr: redrawn in place on a terminal, every 10% otherwise."""

    def __init__(self, stream, label: str, total: int):
        self.stream, self.label, self.total = stream, label, max(total, 1)
        self.done = 0
        self.started = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.next_line_at = 0.1

    def advance(self, n: int) -> None:
        self.done += n
        fraction = min(self.done / self.total, 1.0)
        if self.tty:
            bar = "#" * int(fraction * 30)
            self.stream.write(
                f"\r  {self.label:<34} [{bar:<30}] {self.done:>9,}/{self.total:,} "
                f"{time.perf_counter() - self.started:6.1f}s"
            )
            self.stream.flush()
        elif fraction >= self.next_line_at or self.done >= self.total:
            self.stream.write(
                f"  {self.label}: {self.done:,}/{self.total:,} ({fraction:.0%}) "
                f"{time.perf_counter() - self.started:.1f}s\n"
            )
            self.stream.flush()
            while self.next_line_at <= fraction:
                self.next_line_at += 0.1

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.started
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
        return elapsed


def note(stream, text: str) -> None:
    stream.write(f"{text}\n")
    stream.flush()


# --- Throwaway database and cache ---------------------------------------------------------


@contextmanager
def throwaway_database(*, db_name: str | None, log):
    """Point the default connection at a new, empty, migrated database; drop it afterwards."""
    conn = connections[DEFAULT_DB_ALIAS]
    original = conn.settings_dict["NAME"]
    if conn.in_atomic_block:
        raise CommandError("bench cannot run inside a transaction (it switches databases).")
    conn.close()
    tmpdir = None
    if conn.vendor == "sqlite":
        tmpdir = tempfile.mkdtemp(prefix="dm-bench-")
        target = os.path.join(tmpdir, "bench.sqlite3")
        label = f"sqlite file {target}"
    elif conn.vendor == "postgresql":
        target = db_name or f"{original}_bench"
        if target == original:
            raise CommandError("The bench database must not be the configured database.")
        _drop_pg_database(conn, target)
        with conn._nodb_cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {conn.ops.quote_name(target)}")
        label = f"postgresql database {target}"
    else:
        raise CommandError(f"bench supports SQLite and PostgreSQL, not {conn.vendor}.")
    conn.settings_dict["NAME"] = target
    settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"] = target
    log(f"Throwaway database: {label}")
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield label
    finally:
        conn.close()
        conn.settings_dict["NAME"] = original
        settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"] = original
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        else:
            _drop_pg_database(conn, target)
        log(f"Dropped {label}")


def _drop_pg_database(conn, name: str) -> None:
    with conn._nodb_cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        force = " WITH (FORCE)" if int(cursor.fetchone()[0]) >= 130000 else ""
        cursor.execute(f"DROP DATABASE IF EXISTS {conn.ops.quote_name(name)}{force}")


@contextmanager
def private_cache():
    """The configured cache backend under a key prefix of our own, emptied afterwards.

    On Redis this keeps bench keys (badge counts of bench user ids, cached pages)
    away from the developer's; on LocMemCache it only concerns this process.
    """
    cache = caches["default"]
    original = cache.key_prefix
    cache.key_prefix = f"bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        yield cache
    finally:
        try:
            if hasattr(cache, "delete_pattern"):
                cache.delete_pattern("*")  # our prefix only; never FLUSHDB a shared Redis
            else:
                cache.clear()
        finally:
            cache.key_prefix = original


@contextmanager
def fast_build(conn):
    """SQLite: no fsync and a big page cache while bulk loading; WAL again for measuring."""
    if conn.vendor != "sqlite":
        yield
        return
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=MEMORY")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-400000")
        cursor.execute("PRAGMA temp_store=MEMORY")
    try:
        yield
    finally:
        with conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA cache_size=-2000")


# --- Building the data --------------------------------------------------------------------


class Builder:
    """Writes users, conversations and messages with bulk_create and explicit ids."""

    def __init__(self, conn, *, seed: int, stream):
        self.conn = conn
        self.rng = random.Random(seed)
        self.stream = stream
        self.password = make_password(None)
        self.now = timezone.now()
        self.year_ago = self.now - timedelta(days=365)
        self.user_ids = count(1)
        self.conversation_ids = count(1)
        self.message_ids = count(1)
        self.message_total = 0
        # conversation id -> [low, high, version, last_message_at, last message id]
        self.conversations: dict[int, list] = {}
        self.sentences = [self._sentence() for _ in range(2000)]

    def _sentence(self) -> str:
        words = "hi there lunch tomorrow the plan sounds good see you at station train map photo coffee " \
                "thursday ok thanks sure later weekend trip ticket call me when you can".split()
        return " ".join(self.rng.choice(words) for _ in range(self.rng.randint(3, 30))).capitalize() + "."

    def users(self, prefix: str, n: int) -> list[int]:
        ids = [next(self.user_ids) for _ in range(n)]
        User.objects.bulk_create(
            [User(id=pk, username=f"{prefix}{pk}", password=self.password, date_joined=self.now) for pk in ids],
            batch_size=1000,
        )
        return ids

    def conversations_between(self, pairs) -> list[int]:
        rows = []
        for a, b in pairs:
            pk = next(self.conversation_ids)
            low, high = sorted((a, b))
            self.conversations[pk] = [low, high, 0, None, None]
            rows.append(Conversation(id=pk, user_low_id=low, user_high_id=high))
        Conversation.objects.bulk_create(rows, batch_size=1000)
        return [row.id for row in rows]

    def messages(self, rows, *, label: str) -> list[int]:
        """rows: (conversation_id, sender_id, receiver_id, timestamp, read, parent_id or "last" or None).

        A parent of "last" means "the previous message of that conversation" (a reply).
        """
        progress = Progress(self.stream, label, len(rows))
        ids, batch = [], []
        for conversation_id, sender_id, receiver_id, timestamp, read, parent in rows:
            state = self.conversations[conversation_id]
            pk = next(self.message_ids)
            state[2] += 1
            if parent == "last":
                parent = state[4]
            if state[3] is None or timestamp > state[3]:
                state[3] = timestamp
            state[4] = pk
            batch.append(
                Message(
                    id=pk,
                    conversation_id=conversation_id,
                    sender_id=sender_id,
                    receiver_id=receiver_id,
                    content=self.rng.choice(self.sentences),
                    timestamp=timestamp,
                    read=read,
                    parent_message_id=parent,
                    changed_version=state[2],
                )
            )
            ids.append(pk)
            if len(batch) >= BATCH:
                Message.objects.bulk_create(batch)
                progress.advance(len(batch))
                batch = []
        if batch:
            Message.objects.bulk_create(batch)
            progress.advance(len(batch))
        progress.finish()
        self.message_total += len(rows)
        return ids

    def save_conversation_state(self, conversation_ids) -> None:
        """What the post_save signal would have stamped: version and last_message_at."""
        rows = [
            Conversation(id=pk, version=self.conversations[pk][2], last_message_at=self.conversations[pk][3])
            for pk in conversation_ids
        ]
        Conversation.objects.bulk_update(rows, ["version", "last_message_at"], batch_size=500)

    def finish_step(self) -> None:
        """Sequences past the explicit ids. On PostgreSQL, the vacuum and statistics autovacuum
        would soon make anyway, and a checkpoint that writes out the new rows, done now so they
        don't run (and compete for CPU and disk) while we measure."""
        statements = self.conn.ops.sequence_reset_sql(no_style(), [User, Conversation, Message])
        with self.conn.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
            if self.conn.vendor == "postgresql":
                cursor.execute("VACUUM ANALYZE")
                cursor.execute("CHECKPOINT")

    def random_time(self):
        return self.year_ago + timedelta(seconds=self.rng.random() * 365 * 86400)

    # Scenario data ---------------------------------------------------------------------

    def thread(self, replies: int):
        """A root and `replies` replies in one conversation, at most MAX_THREAD_DEPTH deep.

        The first replies form one long chain (the deepest branch); the rest answer
        a random earlier message, or continue the branch just written.
        """
        a, b = self.users(f"thread{replies}-", 2)
        (conversation_id,) = self.conversations_between([(a, b)])
        start = self.now - timedelta(days=1)
        root_id = next(self.message_ids)
        self.message_ids = count(root_id)  # messages() hands out the ids
        nodes = [(root_id, 0, a)]  # id, depth, sender
        rows = [(conversation_id, a, b, start, True, None)]
        spine = min(MAX_THREAD_DEPTH, max(1, replies // 2))
        for i in range(replies):
            pk = root_id + 1 + i
            if i < spine:
                parent = nodes[-1]
            elif self.rng.random() < 0.5 and nodes[-1][1] < MAX_THREAD_DEPTH:
                parent = nodes[-1]
            else:
                parent = self.rng.choice([n for n in nodes[-200:] if n[1] < MAX_THREAD_DEPTH] or nodes[:1])
            sender = b if parent[2] == a else a
            receiver = parent[2]
            nodes.append((pk, parent[1] + 1, sender))
            rows.append((conversation_id, sender, receiver, start + timedelta(seconds=i + 1), True, parent[0]))
        self.messages(rows, label=f"thread of {replies:,} replies")
        self.save_conversation_state([conversation_id])
        self.finish_step()
        return Message.objects.get(pk=root_id), max(depth for _, depth, _ in nodes)

    def inbox_user(self, *, unread: int, partners: int = 100):
        """The measured user: `unread` unread messages and a third as many read, over `partners` people."""
        (focus,) = self.users("inbox-user-", 1)
        partner_ids = self.users("partner-", partners)
        conversation_ids = self.conversations_between([(focus, p) for p in partner_ids])
        weights = [20 * partners // 100 or 1] + [1] * (partners - 1)  # the first partner is the busiest
        plan = []
        read_count = unread // 3
        for n in range(unread + read_count):
            i = self.rng.choices(range(partners), weights)[0]
            incoming = n < unread or self.rng.random() < 0.5
            sender, receiver = (partner_ids[i], focus) if incoming else (focus, partner_ids[i])
            reply = "last" if self.rng.random() < 0.1 else None
            plan.append((conversation_ids[i], sender, receiver, self.random_time(), n >= unread, reply))
        plan.sort(key=lambda row: row[3])
        self.messages(plan, label=f"inbox user ({unread:,} unread)")
        self.save_conversation_state(conversation_ids)
        self.finish_step()
        return User.objects.get(pk=focus), User.objects.get(pk=partner_ids[0]), conversation_ids[0]

    def filler(self, n: int, pool) -> None:
        """`n` messages among other people: 80% read, 10% replies, spread over the past year."""
        if n <= 0:
            return
        plan = []
        for _ in range(n):
            conversation_id = self.rng.choice(pool)
            low, high = self.conversations[conversation_id][:2]
            sender, receiver = (low, high) if self.rng.random() < 0.5 else (high, low)
            reply = "last" if self.rng.random() < 0.1 else None
            plan.append((conversation_id, sender, receiver, self.random_time(), self.rng.random() < 0.8, reply))
        plan.sort(key=lambda row: row[3])
        self.messages(plan, label=f"other people's messages (+{n:,})")
        self.save_conversation_state({row[0] for row in plan})
        self.finish_step()

    def filler_pool(self, max_size: int) -> list[int]:
        """Users and conversations for the filler: about 400 messages per user, 8 partners each."""
        n_users = min(max(max_size // 400, 50), 5000)
        user_ids = self.users("user-", n_users)
        pairs = set()
        while len(pairs) < n_users * 4:
            a, b = self.rng.sample(user_ids, 2)
            pairs.add((min(a, b), max(a, b)))
        return self.conversations_between(sorted(pairs))


# --- Measuring ------------------------------------------------------------------------------


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


@dataclass
class Target:
    scenario: str
    kind: str  # "queries" or "time"
    ok: bool
    rule: str
    detail: str


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


# --- Targets ---------------------------------------------------------------------------------


def evaluate(rows: list[Row]) -> list[Target]:
    by = {}
    for row in rows:
        by.setdefault(row.scenario, []).append(row)
    targets = []

    def growth(scenario, series):
        bad = []
        for small, big in zip(series, series[1:]):
            size_ratio = big.size / small.size
            time_ratio = big.median_ms / small.median_ms if small.median_ms else 1.0
            if time_ratio > size_ratio * GROWTH_SLACK:
                bad.append(f"x{time_ratio:.1f} time for x{size_ratio:.0f} replies ({small.size}->{big.size})")
        ratios = ", ".join(
            f"x{b.median_ms / a.median_ms:.1f} for x{b.size / a.size:.0f}" for a, b in zip(series, series[1:]) if a.median_ms
        )
        targets.append(
            Target(scenario, "time", not bad, "time grows no faster than the reply count", "; ".join(bad) or ratios)
        )

    for scenario, counter in (("thread-fetch", "queries"), ("thread-partial", "app_queries")):
        series = by.get(scenario, [])
        if not series:
            continue
        counts = [getattr(r, counter) for r in series]
        totals = [r.queries for r in series]
        ok = len(set(counts)) == 1 and len(set(totals)) == 1 and max(counts) <= THREAD_MAX_QUERIES
        what = "queries" if counter == "queries" else "queries on messaging tables"
        targets.append(
            Target(
                scenario, "queries", ok, f"same {what} at every size, <= {THREAD_MAX_QUERIES}",
                f"{what}: {counts}; all queries: {totals}",
            )
        )
        growth(scenario, series)

    for scenario in ("inbox-page", "inbox-unread"):
        series = by.get(scenario, [])
        if not series:
            continue
        counts = [r.queries for r in series]
        targets.append(
            Target(scenario, "queries", max(counts) <= INBOX_MAX_QUERIES, f"<= {INBOX_MAX_QUERIES} queries at every size",
                   f"queries: {counts}")
        )
        small, big = series[0], series[-1]
        ratio = big.median_ms / small.median_ms if small.median_ms else 1.0
        targets.append(
            Target(scenario, "time", ratio <= INBOX_MAX_SLOWDOWN,
                   f"median at {big.size:,} within {INBOX_MAX_SLOWDOWN}x of {small.size:,}",
                   f"{big.median_ms:.2f} ms vs {small.median_ms:.2f} ms: x{ratio:.2f}; fastest runs "
                   f"x{big.min_ms / small.min_ms if small.min_ms else 1.0:.2f}")
        )

    for scenario in ("badge-hit", "conversation-hit"):
        for row in by.get(scenario, []):
            auth_only = row.queries == row.auth_queries
            targets.append(
                Target(scenario, "queries", row.app_queries == 0,
                       "no query on messaging_* tables (session/user auth only)",
                       f"{row.app_queries} messaging queries, {row.auth_queries} auth queries"
                       + ("" if auth_only else f", {row.queries - row.auth_queries - row.app_queries} other"))
            )

    for row in by.get("send-message", []):
        targets.append(
            Target("send-message", "queries", row.queries <= SEND_MAX_QUERIES, f"<= {SEND_MAX_QUERIES} queries",
                   f"{row.queries} queries")
        )
    return targets


def mark_rows(rows: list[Row], targets: list[Target]) -> None:
    for row in rows:
        mine = [t for t in targets if t.scenario == row.scenario]
        if not mine:
            continue
        failed = [t for t in mine if not t.ok]
        row.target = "PASS" if not failed else "FAIL " + "; ".join(t.rule for t in failed)


# --- The command -----------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    try:
        return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"Expected comma-separated integers, got {text!r}") from None


class Command(BaseCommand):
    help = "Build data in a throwaway database and report query counts and median times of the busy paths."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead of the table.")
        parser.add_argument("--quick", action="store_true", help="Small sizes (a CI smoke test).")
        parser.add_argument("--repeat", type=int, help="Timed runs per measurement (median reported).")
        parser.add_argument("--thread-sizes", type=int_list, help="Reply counts, e.g. 30,300,3000.")
        parser.add_argument("--inbox-sizes", type=int_list, help="Messages in the database, e.g. 10000,100000.")
        parser.add_argument("--unread", type=int, help="Unread messages of the measured inbox user.")
        parser.add_argument("--explain", action="store_true",
                            help="Print the plans of the inbox queries at the largest size (also done when it fails).")
        parser.add_argument("--db-name", help="PostgreSQL: name of the throwaway database (default <name>_bench).")
        parser.add_argument("--seed", type=int, default=20240601)

    def handle(self, *args, **options):
        plan = dict(QUICK if options["quick"] else FULL)
        for key in ("thread_sizes", "inbox_sizes", "unread", "repeat"):
            if options[key] is not None:
                plan[key] = options[key]
        if plan["repeat"] < 1:
            raise CommandError("--repeat must be at least 1")
        plan["inbox_sizes"] = sorted(plan["inbox_sizes"])
        plan["thread_sizes"] = sorted(plan["thread_sizes"])
        err = self.stderr._out if hasattr(self.stderr, "_out") else sys.stderr

        def log(text):
            note(err, text)

        if settings.DEBUG:
            log("Note: DEBUG is on; timings include Django's debug query log.")
        started = time.perf_counter()
        load_at_start = [round(x, 2) for x in os.getloadavg()]
        if load_at_start[0] > (os.cpu_count() or 1) / 2:
            log(f"Note: load average {load_at_start[0]} before starting; other work on the machine skews timings.")
        conn = connections[DEFAULT_DB_ALIAS]
        with throwaway_database(db_name=options["db_name"], log=log) as db_label, private_cache():
            # The test client's host; plain static file URLs, so no collectstatic manifest is needed.
            storages = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
            with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"], STORAGES=storages):
                bench, explain, build_seconds = self.run(conn, plan, options, err, log)
            vendor, server = conn.vendor, self.server_version(conn)
        rows = bench.rows
        targets = evaluate(rows)
        mark_rows(rows, targets)
        inbox_time_failed = any(t.scenario == "inbox-page" and not t.ok for t in targets)
        report = {
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
            "explain": explain if (options["explain"] or inbox_time_failed) else [],
        }
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            self.stdout.write(self.render(report))

    @staticmethod
    def server_version(conn) -> str:
        if conn.vendor == "sqlite":
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version}"
        with conn.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"

    def run(self, conn, plan, options, err, log):
        builder = Builder(conn, seed=options["seed"], stream=err)
        bench = Bench(conn, repeat=plan["repeat"], log=log)
        build_seconds = {}

        # a. Threads: all built first, then measured in turn.
        threads = []
        for size in plan["thread_sizes"]:
            t0 = time.perf_counter()
            with fast_build(conn):
                root, depth = builder.thread(size)
            build_seconds[f"thread {size}"] = round(time.perf_counter() - t0, 1)
            threads.append((size, f"{size:,} replies (depth {depth})", root))

        def count_nodes(expected):
            def check(top):
                total, stack = 0, list(top)
                while stack:
                    node = stack.pop()
                    total += 1
                    stack.extend(node.children)
                assert total == expected, f"thread has {total} nodes, expected {expected}"

            return check

        def check_partial(expected):
            def check(response):
                ok_status(response)
                assert response.content.count(b'data-testid="thread-node"') == expected

            return check

        fetches, partials = [], []
        for size, size_label, root in threads:
            fetches.append(
                (size, size_label, lambda root=root: list(build_tree(root, Message.objects.thread_of(root))),
                 count_nodes(size))
            )
            client = Client()
            client.force_login(root.sender)
            url = reverse("messaging:thread-detail", args=[root.pk])
            partials.append(
                (size, size_label, lambda client=client, url=url: client.get(url, headers=HX, secure=True),
                 check_partial(size))
            )
        bench.measure_series("thread-fetch", "thread: thread_of + build_tree", fetches)
        bench.measure_series("thread-partial", "thread: partial (HTMX GET)", partials)

        # b. Inbox at growing database sizes.
        t0 = time.perf_counter()
        with fast_build(conn):
            focus, partner, busy_conversation_id = builder.inbox_user(unread=plan["unread"])
            pool = builder.filler_pool(plan["inbox_sizes"][-1])
        build_seconds["inbox user and people"] = round(time.perf_counter() - t0, 1)
        inbox_client = Client()
        inbox_client.force_login(focus)
        explain = []
        for size in plan["inbox_sizes"]:
            t0 = time.perf_counter()
            with fast_build(conn):
                builder.filler(size - builder.message_total, pool)
            build_seconds[f"inbox {size}"] = round(time.perf_counter() - t0, 1)
            total = Message.objects.count()
            size_label = f"{total:,} messages"

            def inbox_page():
                return inbox_client.get(reverse("messaging:inbox"), secure=True)

            bench.measure("inbox-page", "inbox: page GET /", size, size_label, inbox_page, check=ok_status)

            def unread_list():
                return keyset_page(Message.unread.for_user(focus), field="timestamp", cursor=None, size=20)

            def check_unread(page):
                assert len(page.items) == 20 and page.has_next

            bench.measure("inbox-unread", "inbox: Message.unread.for_user", size, size_label, unread_list,
                          check=check_unread)
            if size == plan["inbox_sizes"][-1]:
                explain = explain_inbox(conn, inbox_client)
        final_label = f"{builder.message_total:,} messages"
        final_size = builder.message_total

        # c. Conversation partial: miss (a URL not cached yet) and hit.
        conversation = Conversation.objects.get(pk=busy_conversation_id)
        base = f"{reverse('messaging:conversation-messages', args=[conversation.pk])}?v={conversation.version}"
        miss_number = count()

        def conversation_miss():
            return inbox_client.get(f"{base}&bench-miss={next(miss_number)}", headers=HX, secure=True)

        def conversation_hit():
            return inbox_client.get(base, headers=HX, secure=True)

        bench.measure("conversation-miss", "conversation partial: cache miss", final_size, final_label,
                      conversation_miss, check=ok_status)
        bench.measure("conversation-hit", "conversation partial: cache hit", final_size, final_label,
                      conversation_hit, check=ok_status)

        # d. Unread badge poll.
        # As a page polls it: with the badge token the page carries (no session or user lookup).
        badge_headers = {**HX, BADGE_TOKEN_HEADER: badge_token(focus.pk, inbox_client.session.session_key)}

        def badge():
            return inbox_client.get(reverse("messaging:unread-badge"), headers=badge_headers, secure=True)

        bench.measure("badge-miss", "badge poll: cache miss", final_size, final_label, badge,
                      setup=lambda: forget_badges(focus.pk), check=ok_status)
        bench.measure("badge-hit", "badge poll: cache hit", final_size, final_label, badge, check=ok_status)

        # e. Writes, each with its signals (notification, history, version bump).
        texts = count()

        def send():
            return actions.send_message(focus, to=partner, content=f"bench message {next(texts)}")

        parent = Message.objects.filter(conversation_id=busy_conversation_id, sender=partner).order_by("-pk").first()

        def reply():
            return actions.reply_to_message(parent, sender=focus, content=f"bench reply {next(texts)}")

        own = actions.send_message(focus, to=partner, content="to be edited")

        def edit():
            return actions.edit_message(own, editor=focus, content=f"edited {next(texts)}")

        history_before = MessageHistory.objects.count()
        notifications_before = Notification.objects.count()
        bench.measure("send-message", "write: send_message", final_size, final_label, send)
        bench.measure("reply-to-message", "write: reply_to_message", final_size, final_label, reply)
        bench.measure("edit-message", "write: edit_message", final_size, final_label, edit)
        writes = bench.repeat + 2
        assert MessageHistory.objects.count() - history_before == writes, "an edit left no history row"
        assert Notification.objects.count() - notifications_before == 2 * writes, "a write left no notification"
        return bench, explain, build_seconds

    def render(self, report) -> str:
        lines = [
            f"Database: {report['server_version']} (throwaway {report['throwaway']}); cache: {report['cache']}; "
            f"{report['cpus']} CPUs; Python {report['python']}; load average {report['load_average']['start'][0]} "
            f"at start, {report['load_average']['end'][0]} at end",
            f"Median of {report['plan']['repeat']} runs after one warm-up; queries counted on a separate run "
            "(app = on messaging_* tables; SQL ms = time in cursor.execute() on that run).",
            "",
        ]
        header = ("Scenario", "Size", "Queries (app)", "Median ms", "SQL ms", "Target")
        table = [header] + [
            (r["label"], r["size_label"], f"{r['queries']} ({r['app_queries']})", f"{r['median_ms']:.2f}",
             f"{r['sql_ms']:.2f}", r["target"])
            for r in report["rows"]
        ]
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        for i, row in enumerate(table):
            lines.append(
                f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}  "
                f"{row[4]:>{widths[4]}}  {row[5]}"
            )
            if i == 0:
                lines.append("-" * (sum(widths) + 10 + 6))
        lines += ["", "Targets:"]
        for t in report["targets"]:
            lines.append(f"  {'PASS' if t['ok'] else 'FAIL'}  {t['scenario']}: {t['rule']} ({t['detail']})")
        failed = [t for t in report["targets"] if not t["ok"]]
        lines.append("")
        lines.append("All targets hold." if not failed else f"FAIL: {len(failed)} target(s) missed (see above).")
        build = ", ".join(f"{k}: {v}s" for k, v in report["build_seconds"].items())
        lines.append(f"Build times: {build}. Total {report['total_seconds']}s.")
        for item in report["explain"]:
            lines += ["", f"EXPLAIN {item['sql'][:400]}{'...' if len(item['sql']) > 400 else ''}"]
            lines += [f"    {line}" for line in item["plan"]]
        return "\n".join(lines) + "\n"
