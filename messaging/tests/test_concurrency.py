"""Writes racing each other: nothing lost, nothing doubled, no orphan, no 500.

Each test releases its threads together with a Barrier (security_helpers.run_threads);
every thread works on its own database connection and closes it, as a request would.
PostgreSQL runs 20 writers at once. SQLite has a single writer (IMMEDIATE
transactions queue on its lock), so it runs the same tests with 8; CI runs both.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from messaging import actions
from messaging.models import Conversation, Message, MessageHistory, Notification
from messaging.unread import unread_badge_count

from .conftest import HX
from .security_helpers import PASSWORD, assert_messaging_integrity, orphan_rows, run_threads, user_references

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


def session_client(logged_in: Client) -> Client:
    """A new client on the same session: one per thread, as a Client is not thread-safe."""
    client = Client(raise_request_exception=False)
    client.cookies[settings.SESSION_COOKIE_NAME] = logged_in.cookies[settings.SESSION_COOKIE_NAME].value
    return client


def writers() -> int:
    return 8 if connection.vendor == "sqlite" else 20


def test_writer_count_matches_the_database():
    """The PostgreSQL run really races 20 writers (a guard against a silent downgrade)."""
    assert writers() == {"sqlite": 8, "postgresql": 20}[connection.vendor]


def test_concurrent_sends_to_one_person(make_user):
    """N people write to Bob at the same instant: N messages, N notifications, badge N."""
    count = writers()
    bob = make_user("bob")
    senders = [make_user(f"sender{n}") for n in range(count)]
    assert unread_badge_count(bob) == 0  # a cached 0 that every send must forget

    results, errors = run_threads(count, lambda n: actions.send_message(senders[n], to=bob, content=f"hello {n}"))

    assert errors == [None] * count
    assert sorted(Message.objects.filter(receiver=bob).values_list("content", flat=True)) == sorted(
        f"hello {n}" for n in range(count)
    )
    assert Notification.objects.filter(user=bob, read=False).count() == count
    assert Conversation.objects.count() == count
    assert unread_badge_count(bob) == count
    assert_messaging_integrity()


def test_concurrent_first_messages_share_one_conversation(alice, bob):
    """Alice and Bob both write first, many times at once: one conversation, every message
    in it, one notification each, and versions handed out one per message, no gaps."""
    count = writers()

    def send(n):
        sender, receiver = (alice, bob) if n % 2 else (bob, alice)
        return actions.send_message(sender, to=receiver, content=f"m{n}")

    results, errors = run_threads(count, send)

    assert errors == [None] * count
    conversation = Conversation.objects.get()
    assert Message.objects.filter(conversation=conversation).count() == count
    assert Notification.objects.count() == count
    assert Notification.objects.filter(user=alice).count() == count // 2
    # A poll that has version N has every change <= N: each message got its own version.
    assert conversation.version == count
    assert sorted(Message.objects.values_list("changed_version", flat=True)) == list(range(1, count + 1))
    assert unread_badge_count(alice) == count // 2 and unread_badge_count(bob) == count - count // 2
    assert_messaging_integrity()


def test_concurrent_sends_through_http_in_one_conversation(alice, bob):
    """The same through the views: every POST answered (no 500, no 429 below the limit)."""
    count = writers()
    conversation = actions.send_message(alice, to=bob, content="start").conversation
    url = conversation.get_absolute_url()
    clients = {}
    for user in (alice, bob):
        clients[user.pk] = Client(raise_request_exception=False)
        clients[user.pk].force_login(user)

    def post(n):
        sender = alice if n % 2 else bob
        client = session_client(clients[sender.pk])
        return client.post(url, {"content": f"via http {n}"}, headers=HX if n % 3 else {}).status_code

    statuses, errors = run_threads(count, post)

    assert errors == [None] * count
    assert sorted(statuses) == sorted(200 if n % 3 else 302 for n in range(count))
    assert Message.objects.filter(content__startswith="via http").count() == count
    assert Notification.objects.filter(message__content__startswith="via http").count() == count
    assert_messaging_integrity()


def test_concurrent_mark_read_counts_each_message_once(alice, bob, carol):
    """Bob reads the conversation in several tabs at once while Carol keeps writing to him:
    each of Alice's messages is flipped exactly once, Carol's stay unread, and the unread
    counts (inbox and badge) are exactly what is left."""
    count = writers()
    for n in range(count):
        actions.send_message(alice, to=bob, content=f"from alice {n}")
    from_alice = Conversation.objects.between(alice, bob).get()
    assert unread_badge_count(bob) == count

    def work(n):
        if n % 2:
            flipped = actions.mark_conversation_read(from_alice, user=bob)
        else:
            actions.send_message(carol, to=bob, content=f"from carol {n}")
            flipped = 0
        unread_badge_count(bob)  # a badge poll in the middle of it all
        return flipped

    results, errors = run_threads(count, work)

    assert errors == [None] * count
    assert sum(results) == count  # no message counted twice, none missed
    carols = count - count // 2
    assert Message.unread.unread_count(bob) == carols
    assert not Message.objects.filter(sender=alice, read=False).exists()
    # Notifications follow their messages.
    assert not Notification.objects.filter(message__sender=alice, kind__in=["message", "reply"], read=False).exists()
    assert Notification.objects.filter(message__sender=carol, read=False).count() == carols
    inbox = {c.pk: c.unread_count for c in Conversation.objects.for_user(bob).with_inbox_columns(bob)}
    assert inbox[from_alice.pk] == 0
    assert inbox[Conversation.objects.between(carol, bob).get().pk] == carols
    assert unread_badge_count(bob) == carols
    page = Client()
    page.force_login(bob)
    html = page.get(reverse("messaging:unread-badge"), headers=HX).content.decode()
    assert f'data-unread-count="{carols}"' in html


def test_badge_poll_racing_a_read_never_keeps_a_stale_count(alice, bob, monkeypatch):
    """Regression: a badge poll counted, then the read committed and forgot the count, then
    the poll stored what it had counted. The badge then said "1 unread" for minutes
    (UNREAD_BADGE_TTL) after Bob had read everything."""
    from messaging import unread

    message = actions.send_message(alice, to=bob, content="read me")
    original = unread._count

    def count_then_bob_reads(user):
        counted = original(user)  # 1, from before the read
        monkeypatch.setattr(unread, "_count", original)
        actions.mark_conversation_read(message.conversation, user=bob)  # commits, forgets the badge
        return counted

    monkeypatch.setattr(unread, "_count", count_then_bob_reads)
    unread_badge_count(bob)  # the poll that lost the race (it may show 1 once)
    assert Message.unread.unread_count(bob) == 0
    assert unread_badge_count(bob) == 0, "the next poll must not serve the stale count"


def test_concurrent_edits_and_history_through_http(alice, bob):
    """Alice saves the same message from N tabs at once (no base token): N history rows,
    and the final text is one of the edits."""
    count = writers()
    message = actions.send_message(alice, to=bob, content="v0")
    url = reverse("messaging:message-edit", args=[message.pk])
    owner = Client()
    owner.force_login(alice)

    def edit(n):
        client = session_client(owner)
        return client.post(url, {"content": f"v{n + 1}"}, headers=HX if n % 2 else {}).status_code

    statuses, errors = run_threads(count, edit)

    assert errors == [None] * count
    assert sorted(statuses) == sorted(200 if n % 2 else 302 for n in range(count))
    message.refresh_from_db()
    history = list(MessageHistory.objects.filter(message=message).values_list("old_content", flat=True))
    assert len(history) == count
    assert message.content in {f"v{n + 1}" for n in range(count)}
    assert sorted(history + [message.content]) == sorted(f"v{n}" for n in range(count + 1))


# --- Account deletion while others write to it ----------------------------------------------------------


def _delete_while_writing(alice, bob, make_user, *, round_: int):
    """Bob deletes his account while everyone else writes to him, starts conversations
    with him, replies to his messages, edits theirs to him and reads his, through the views,
    all at once."""
    count = writers()
    others = [alice] + [make_user(f"r{round_}w{n}") for n in range(count - 2)]
    # Bob has conversations to lose, and messages of his to reply to.
    bobs = [actions.send_message(bob, to=other, content=f"bob to {other.username}") for other in others]
    to_bob = {other.pk: actions.send_message(other, to=bob, content=f"{other.username} to bob") for other in others}
    actions.edit_message(bobs[0], editor=bob, content="bob, edited")  # history to lose too
    clients = {}
    for user in [bob, *others]:
        clients[user.pk] = Client(raise_request_exception=False)
        clients[user.pk].force_login(user)

    def act(n):
        if n == count - 1:
            client = session_client(clients[bob.pk])
            return "delete", client.post(reverse("messaging:delete-user"), {"password": PASSWORD}).status_code
        writer = others[n % len(others)]
        client = session_client(clients[writer.pk])
        kind = n % 5
        if kind == 4:  # opening his conversation, which marks his messages read
            return "write", client.get(bobs[n % len(others)].conversation.get_absolute_url()).status_code
        if kind == 3:  # editing their own message to him (its history goes with him)
            url, data = reverse("messaging:message-edit", args=[to_bob[writer.pk].pk]), {"content": f"edit {n}"}
        elif kind == 0:
            url, data = bobs[n % len(others)].conversation.get_absolute_url(), {"content": f"to bob {n}"}
        elif kind == 1:
            url, data = reverse("messaging:compose"), {"to": "bob", "content": f"compose to bob {n}"}
        else:
            url, data = reverse("messaging:message-reply", args=[bobs[n % len(others)].pk]), {"content": f"re {n}"}
        return "write", client.post(url, data, headers=HX if n % 2 else {}).status_code

    results, errors = run_threads(count, act)

    assert errors == [None] * count
    statuses = {kind: sorted(status for k, status in results if k == kind) for kind in ("delete", "write")}
    assert statuses["delete"] == [302], statuses
    # Before the deletion: sent (302, or 200 for htmx). After: the conversation or
    # message is gone (404) or the form says he has no account any more (422).
    assert set(statuses["write"]) <= {200, 302, 404, 422}, statuses
    assert not User.objects.filter(pk=bob.pk).exists()
    assert user_references(bob.pk) == {}
    assert orphan_rows() == {}
    assert_messaging_integrity()
    return statuses["write"]


def test_account_deleted_while_others_write_to_it(alice, bob, make_user):
    """No orphaned row, no 500, whichever way each race goes. Three rounds, so the
    deletion lands at different points among the writes."""
    seen = []
    for round_ in range(3):
        if round_:
            bob = make_user("bob")
        seen += _delete_while_writing(alice, bob, make_user, round_=round_)
    assert seen  # each write got an answer, checked above


def test_send_after_the_deletion_is_a_clear_error(alice, bob, make_user):
    """The action level of the same race: a send to a stale user object either lands before
    the deletion (and goes with it) or is refused with a clear error, never half-written."""
    count = writers()
    stale_bob = User.objects.get(pk=bob.pk)
    first = actions.send_message(bob, to=alice, content="hi")

    def act(n):
        if n == 0:
            actions.delete_account(User.objects.get(pk=bob.pk))
            return "deleted"
        if n % 2:
            return actions.send_message(alice, to=stale_bob, content=f"s{n}")
        return actions.reply_to_message(first, sender=alice, content=f"r{n}")

    results, errors = run_threads(count, act)

    assert results[0] == "deleted"
    for error in errors:
        assert error is None or isinstance(error, ValidationError), repr(error)
        if error is not None:
            assert "no longer has an account" in str(error) or "deleted" in str(error), str(error)
    assert not Message.objects.exists() and not Notification.objects.exists()
    assert orphan_rows() == {}
