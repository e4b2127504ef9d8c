"""The bench's targets (see docs/performance.md), checked against the measured rows, and its table."""

from __future__ import annotations

from dataclasses import dataclass

from tools.toolbox import text_table

from .measure import Row

THREAD_MAX_QUERIES = 3
# The partial through its view: the signed-in user with their profile (messaging_profile), the
# root message, the thread's shape (one recursive CTE) and the piece shown.
THREAD_PARTIAL_MAX_APP_QUERIES = 4
INBOX_MAX_QUERIES = 6
INBOX_MAX_SLOWDOWN = 1.5
SEND_MAX_QUERIES = 6
# A send, reply or edit through its view, every statement (transaction control included).
VIEW_WRITE_MAX_STATEMENTS = 8
UNREAD_MAX_SLOWDOWN = 1.5
HISTORY_MAX_MS = 50
# A fragment (selector + template) against the floor of the same rows, per row.
RENDER_MAX_FLOOR_RATIO = 4.0

SEARCH_MAX_SLOWDOWN = 2.0
# Timings are noisy on a shared 2-core machine: "no faster than the reply count"
# allows this much on top of the size ratio.
GROWTH_SLACK = 1.2


@dataclass
class Target:
    scenario: str
    kind: str  # "queries" or "time"
    ok: bool
    rule: str
    detail: str


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
        limit = THREAD_MAX_QUERIES if counter == "queries" else THREAD_PARTIAL_MAX_APP_QUERIES
        ok = len(set(counts)) == 1 and len(set(totals)) == 1 and max(counts) <= limit
        what = "queries" if counter == "queries" else "queries on messaging tables"
        targets.append(
            Target(
                scenario, "queries", ok, f"same {what} at every size, <= {limit}",
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

    for scenario in ("search-page", "search-messages"):
        series = by.get(scenario, [])
        if len(series) < 2:
            continue
        small, big = series[0], series[-1]
        ratio = big.median_ms / small.median_ms if small.median_ms else 1.0
        counts = [r.queries for r in series]
        same = len(set(counts)) == 1
        targets.append(
            Target(scenario, "queries", same, "same query count at every size", f"queries: {counts}")
        )
        targets.append(
            Target(scenario, "time", ratio <= SEARCH_MAX_SLOWDOWN and same,
                   f"median at {big.size:,} within {SEARCH_MAX_SLOWDOWN:g}x of {small.size:,}, same query count",
                   f"{big.median_ms:.2f} ms vs {small.median_ms:.2f} ms: x{ratio:.2f}; fastest runs "
                   f"x{big.min_ms / small.min_ms if small.min_ms else 1.0:.2f}; queries {counts}")
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

    for scenario in ("render-thread", "render-conversation"):
        series = by.get(scenario, [])
        for fragment, floor in zip(series[::2], series[1::2]):
            ratio = fragment.median_ms / floor.median_ms if floor.median_ms else float("inf")
            targets.append(
                Target(scenario, "time", ratio <= RENDER_MAX_FLOOR_RATIO,
                       f"at most {RENDER_MAX_FLOOR_RATIO:g}x the floor per row ({fragment.size_label})",
                       f"{fragment.median_ms:.2f} ms vs floor {floor.median_ms:.2f} ms: x{ratio:.2f}")
            )

    for scenario in ("unread-inbox", "unread-badge-miss"):
        series = by.get(scenario, [])
        if len(series) >= 2:
            small, big = series[0], series[-1]
            ratio = big.median_ms / small.median_ms if small.median_ms else 1.0
            targets.append(
                Target(scenario, "time", ratio <= UNREAD_MAX_SLOWDOWN,
                       f"median at {big.size:,} unread within {UNREAD_MAX_SLOWDOWN}x of {small.size:,}",
                       f"{big.median_ms:.2f} ms vs {small.median_ms:.2f} ms: x{ratio:.2f}; fastest runs "
                       f"x{big.min_ms / small.min_ms if small.min_ms else 1.0:.2f}; queries {[r.queries for r in series]}")
            )
    for row in by.get("unread-plan", []):
        plan = "\n".join(row.sql)
        ok = "msg_unread_page_idx" in plan and "TEMP B-TREE" not in plan and "Sort" not in plan
        targets.append(
            Target("unread-plan", "queries", ok, "after ANALYZE the unread page uses msg_unread_page_idx, no sort",
                   " / ".join(line.strip() for line in row.sql))
        )
    for scenario in ("view-send", "view-reply", "view-edit"):
        for row in by.get(scenario, []):
            targets.append(
                Target(scenario, "queries", row.queries <= VIEW_WRITE_MAX_STATEMENTS,
                       f"<= {VIEW_WRITE_MAX_STATEMENTS} statements through the view, BEGIN/COMMIT included",
                       f"{row.queries} statements")
            )

    for row in by.get("send-message", []):
        targets.append(
            Target("send-message", "queries", row.queries <= SEND_MAX_QUERIES, f"<= {SEND_MAX_QUERIES} queries",
                   f"{row.queries} queries")
        )
    for row in by.get("history-worst-edit", []):
        targets.append(
            Target("history-worst-edit", "time", row.median_ms <= HISTORY_MAX_MS, f"median <= {HISTORY_MAX_MS} ms",
                   f"{row.median_ms:.1f} ms")
        )
    return targets


def mark_rows(rows: list[Row], targets: list[Target]) -> None:
    for row in rows:
        mine = [t for t in targets if t.scenario == row.scenario]
        if not mine:
            continue
        failed = [t for t in mine if not t.ok]
        row.target = "PASS" if not failed else "FAIL " + "; ".join(t.rule for t in failed)


def render(report: dict) -> str:
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
    lines += text_table(table, "llrrrl")
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
