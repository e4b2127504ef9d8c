"""Issue 16: every statement of a write through its view, the kept unread counts, the unread page's plan."""

from datetime import UTC as UTC_
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging import actions
from messaging.models import Conversation, Message, Notification

from .conftest import HX

pytestmark = pytest.mark.django_db

WRITE_MAX_STATEMENTS = 8


def every_statement(queries) -> list[str]:
    """Everything sent to the database, transaction control included.

    The test runs inside a transaction, so the action's own transaction shows as
    SAVEPOINT ... RELEASE SAVEPOINT: the same two statements as the BEGIN and COMMIT it
    runs in production, and logged on both databases (Django logs no BEGIN on SQLite)."""
    return [q["sql"] for q in queries]


def counted(client, method, url, **kwargs):
    client.get(reverse("messaging:unread-badge"), headers=HX)  # the badge count cached, as on a page
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(url, **kwargs)
    assert response.status_code in (200, 302), response.status_code
    return every_statement(queries.captured_queries)


@pytest.mark.parametrize("htmx", [False, True])
def test_send_through_the_view_is_eight_statements(alice, bob, alice_client, htmx):
    first = actions.send_message(alice, to=bob, content="first")
    url = reverse("messaging:conversation-detail", args=[first.conversation_id])
    sql = counted(alice_client, "post", url, data={"content": "second"}, headers=HX if htmx else {})
    # user; conversation (access); SAVEPOINT; lock both people; version UPDATE ... RETURNING
    # (counts the message unread); INSERT message (stamped); INSERT notification; RELEASE
    assert len(sql) == WRITE_MAX_STATEMENTS, sql
    assert sum("SAVEPOINT" in s for s in sql) == 2  # one transaction, no nested savepoint


@pytest.mark.parametrize("htmx", [False, True])
def test_reply_through_the_view_is_eight_statements(alice, bob, bob_client, htmx):
    parent = actions.send_message(alice, to=bob, content="first")
    url = reverse("messaging:message-reply", args=[parent.pk])
    sql = counted(bob_client, "post", url, data={"content": "re"}, headers=HX if htmx else {})
    # user; message (access); SAVEPOINT; lock both people; version UPDATE (checks the parent
    # is still there); INSERT reply; INSERT notification; RELEASE
    assert len(sql) == WRITE_MAX_STATEMENTS, sql


@pytest.mark.parametrize("htmx", [False, True])
def test_edit_through_the_view_is_eight_statements(alice, bob, alice_client, htmx):
    message = actions.send_message(alice, to=bob, content="first")
    url = reverse("messaging:message-edit", args=[message.pk])
    sql = counted(alice_client, "post", url, data={"content": "changed", "base": actions.content_token("first")},
                  headers=HX if htmx else {})  # fmt: skip
    # user; message with what its row shows (access); SAVEPOINT; lock both people; version
    # UPDATE; UPDATE message (compare-and-set on the old text, stamped); INSERT history; RELEASE
    assert len(sql) == WRITE_MAX_STATEMENTS, sql
    message.refresh_from_db()
    assert message.content == "changed" and message.edited and message.history.get().old_content == "first"


def test_an_edit_over_a_newer_text_still_conflicts(alice, bob):
    message = actions.send_message(alice, to=bob, content="first")
    stale = Message.objects.get(pk=message.pk)
    actions.edit_message(message, editor=alice, content="second")
    with pytest.raises(actions.EditConflict):
        actions.edit_message(stale, editor=alice, content="third", base_token=actions.content_token("first"))
    # Without a base, the stale copy's edit applies over the newer text, and history keeps both.
    actions.edit_message(stale, editor=alice, content="third")
    assert [h.old_content for h in message.history.order_by("pk")] == ["first", "second"]


def test_a_reply_refreshes_its_parents_counts_in_the_changes(alice, bob):
    root = actions.send_message(alice, to=bob, content="root")
    child = actions.reply_to_message(root, sender=bob, content="child")
    conversation = Conversation.objects.get(pk=root.conversation_id)
    since = conversation.version
    actions.reply_to_message(child, sender=alice, content="grandchild")
    conversation.refresh_from_db()
    from messaging.selectors import conversation_changes

    changed = {m.pk: m for m in conversation_changes(conversation, since=since, until=conversation.version)}
    assert root.pk in changed and child.pk in changed and len(changed) == 3
    assert changed[child.pk].reply_count == 1 and changed[root.pk].has_nested_replies


# --- Kept counts ------------------------------------------------------------------------------


def counted_from_rows(user):
    messages = Message.objects.filter(receiver=user, read=False).count()
    notifications = Notification.objects.filter(user=user, read=False).count()
    return messages, notifications


def test_kept_counts_follow_every_write(alice, bob, carol):
    people = (alice, bob, carol)

    def check():
        for person in people:
            assert Conversation.objects.unread_totals(person.pk) == counted_from_rows(person), person
            assert Message.unread.unread_count(person) == counted_from_rows(person)[0]

    a = actions.send_message(alice, to=bob, content="a")
    b = actions.send_message(alice, to=bob, content="b")
    actions.send_message(carol, to=bob, content="c")
    actions.send_message(bob, to=bob, content="note")  # never unread
    reply = actions.reply_to_message(a, sender=bob, content="re")
    check()
    actions.delete_message(b, by=alice)  # unread: it stops counting
    check()
    actions.mark_conversation_read(a.conversation, user=bob)
    check()
    actions.send_message(carol, to=bob, content="d")
    notification = Notification.objects.filter(user=bob, read=False).first()
    actions.mark_notifications_read(bob, ids=[notification.pk])
    check()
    actions.set_messages_read(Message.objects.filter(pk=reply.pk), read=False)  # the admin's
    check()
    actions.mark_notifications_read(alice)
    actions.mark_notifications_read(bob)
    check()
    Message.objects.create(sender=carol, receiver=alice, content="from a shell")  # the ORM, signals on
    check()
    Message.objects.filter(sender=carol, receiver=alice).first().delete()
    check()
    actions.send_message(carol, to=bob, content="before she leaves")
    carol_id = carol.pk
    actions.delete_account(carol)  # CASCADE takes her conversations and their counts
    people = (alice, bob)
    check()
    assert Conversation.objects.unread_totals(carol_id) == (0, 0)


def test_a_message_sent_in_the_past_counts_too(alice, bob):
    actions.send_message(alice, to=bob, content="old", sent_at=timezone.now() - timedelta(days=3))
    assert Message.unread.unread_count(bob) == 1


# --- Plans after ANALYZE ----------------------------------------------------------------------------


def test_the_unread_page_uses_its_index_after_analyze(alice, bob, carol):
    """Statistics must not make the planner trade the page's index for the receiver's plus a sort."""
    conversation = Conversation.objects.get_or_create_between(alice, bob)
    other = Conversation.objects.get_or_create_between(alice, carol)
    start = timezone.now() - timedelta(days=30)
    rows = []
    for n in range(3000):
        to_bob = n % 3 != 0
        rows.append(Message(
            conversation=conversation if to_bob else other, sender=alice, receiver=bob if to_bob else carol,
            content=f"m{n}", timestamp=start + timedelta(minutes=n // 2), read=n % 5 == 0,
        ))  # fmt: skip
    Message.objects.bulk_create(rows)
    query = Message.unread.for_user(bob)[:21]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("ANALYZE")
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        else:
            cursor.execute("ANALYZE messaging_message")
            cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())
    assert "msg_unread_page_idx" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


# --- Time labels: localised once per day, worded as date_format() words them -------------------


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns"])
@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_time_labels_read_as_date_format_gives_them(zone, language):
    from zoneinfo import ZoneInfo

    from django.utils import translation
    from django.utils.formats import date_format

    from messaging.rendering import TimeLabels

    tz = ZoneInfo(zone)
    today = timezone.datetime(2026, 3, 29, tzinfo=tz).date()  # Paris and others change clocks this night
    moments = [timezone.datetime(2026, 3, 28, 22, 0, tzinfo=UTC_) + timedelta(minutes=37 * i) for i in range(60)]
    moments.append(timezone.datetime(2025, 12, 31, 23, 59, tzinfo=UTC_))
    with translation.override(language):
        labels = TimeLabels(today)
        for moment in moments * 2:  # the second pass is served from the days already worded
            local = moment.astimezone(tz)
            assert labels.title(local) == date_format(local, "l j F Y, H:i T")
            expected_short = local.strftime("%H:%M") if local.date() == today else date_format(local, "j M, H:i")
            assert labels.short(local) == expected_short


@pytest.mark.parametrize("text", [
    "plain words", "<script>alert('x')</script> & \"quotes\"", "two\r\nlines\rand\nmore", "see https://example.com/?a=1&b=<2>",
    "www.example.com\r\nnext line", "", "tab\there ' \" < > &",
])  # fmt: skip
def test_message_text_is_escaped_as_escape_and_normalize_newlines_would(text):
    from django.utils.html import escape, urlize
    from django.utils.text import normalize_newlines

    from messaging.templatetags.chat import LINK_REL, message_text

    normal = normalize_newlines(text)
    if "://" in normal or "www." in normal:
        expected = urlize(normal, nofollow=True, autoescape=True).replace(' rel="nofollow"', f' rel="{LINK_REL}" target="_blank"')
    else:
        expected = escape(normal)
    shown = message_text(text)
    assert shown == expected.replace("\n", "<br>") and hasattr(shown, "__html__")
    assert "<script>" not in shown and "\r" not in shown
