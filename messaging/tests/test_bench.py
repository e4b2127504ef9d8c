"""`manage.py bench` runs end to end and the query-count targets hold (timings are not asserted)."""

import io
import json

from django.conf import settings
from django.core.management import call_command
from django.db import connection

SCENARIOS = {
    "thread-fetch",
    "thread-partial",
    "inbox-page",
    "inbox-unread",
    "conversation-miss",
    "conversation-hit",
    "badge-miss",
    "badge-hit",
    "send-message",
    "reply-to-message",
    "edit-message",
    "history-worst-edit",
    "render-thread",
    "render-conversation",
    "unread-inbox",
    "unread-badge-miss",
    "unread-plan",
    "view-send",
    "view-reply",
    "view-edit",
    "search-page",
    "search-messages",
}


def test_bench_quick_reports_every_scenario_and_query_targets_hold(django_db_blocker):
    configured = connection.settings_dict["NAME"]
    out, err = io.StringIO(), io.StringIO()
    # The bench builds and drops its own database, so the test needs no test database of its own.
    with django_db_blocker.unblock():
        call_command(
            "bench", "--quick", "--json", "--thread-sizes", "30,120", "--inbox-sizes", "2000,5000",
            "--unread", "300", "--unread-sizes", "50,400", "--repeat", "1", stdout=out, stderr=err,
        )
    report = json.loads(out.getvalue())

    assert {row["scenario"] for row in report["rows"]} == SCENARIOS
    sizes = {row["scenario"]: set() for row in report["rows"]}
    for row in report["rows"]:
        sizes[row["scenario"]].add(row["size"])
    assert sizes["thread-partial"] == {30, 120}
    assert sizes["inbox-page"] == {2000, 5000}

    query_targets = [t for t in report["targets"] if t["kind"] == "queries"]
    assert {t["scenario"] for t in query_targets} == {
        "thread-fetch", "thread-partial", "inbox-page", "inbox-unread", "badge-hit", "conversation-hit", "send-message",
        "unread-plan", "view-send", "view-reply", "view-edit",
        "search-page", "search-messages",
    }
    assert all(t["ok"] for t in query_targets), [t for t in query_targets if not t["ok"]]
    by_scenario = {row["scenario"]: row for row in report["rows"]}
    assert by_scenario["badge-hit"]["app_queries"] == 0
    assert by_scenario["conversation-hit"]["app_queries"] == 0
    assert by_scenario["badge-miss"]["app_queries"] == 1  # the count itself
    # Timings are the bench's to report, not a unit test's to assert; the history case is measured.
    assert any(t["scenario"] == "history-worst-edit" for t in report["targets"])

    # The configured database is back in place and the throwaway one is gone.
    assert connection.settings_dict["NAME"] == configured
    assert settings.DATABASES["default"]["NAME"] == configured
    assert "Dropped" in err.getvalue()
