"""Query counts of the API's reads: constant per page, whatever the data (pinned exactly).

Each test builds a small world, counts, builds a much bigger one and counts again: the
number must be the same. With a token, authentication is one query (the token row and
its user, joined); with the session it is the user (the session comes from the cache).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging import actions
from messaging.models import Notification

from .conftest import JsonClient

pytestmark = pytest.mark.django_db


def fill(alice, bob, make_user, *, scale: int):
    """`scale` conversations for Bob, each with replies, edits and a deleted message."""
    root = None
    for n in range(scale):
        friend = make_user(f"friend{scale}x{n:03}")
        message = actions.send_message(friend, to=bob, content=f"hello {n}")
        reply = actions.reply_to_message(message, sender=bob, content="re")
        actions.reply_to_message(reply, sender=friend, content="re re")
        actions.send_message(friend, to=bob, content="unread")
        gone = actions.send_message(bob, to=friend, content="deleted")
        actions.delete_message(gone, by=bob)
    for n in range(scale * 3):
        root = root or actions.send_message(alice, to=bob, content="root")
        parent = actions.reply_to_message(root, sender=bob if n % 2 else alice, content=f"thread {n}")
        actions.edit_message(root, editor=alice, content=f"root v{n}")
        actions.reply_to_message(parent, sender=alice, content="deeper")
    return root


PAGES = {
    # token; the unread count (the badge's, cached after)
    "me": (lambda root: reverse("api:me"), 2),
    # token; conversations page with last message id and unread count; the last messages
    "conversations": (lambda root: reverse("api:conversation-list"), 3),
    # token; conversation (access); one page of rows with their people and reply counts
    "conversation messages": (lambda root: reverse("api:conversation-messages", args=[root.conversation_id]), 3),
    # token; the unread page (the anchor is a subquery of it)
    "unread": (lambda root: reverse("api:unread"), 2),
    "unread, older page": (lambda root: reverse("api:unread") + f"?before={root.pk + 5}&limit=5", 2),
    # token; the message (access)
    "message": (lambda root: reverse("api:message-detail", args=[root.pk]), 2),
    # token; the root (access); every reply at any depth, in one recursive query
    "thread": (lambda root: reverse("api:message-thread", args=[root.pk]), 3),
    # token; the message (access); one page of versions
    "history": (lambda root: reverse("api:message-history", args=[root.pk]), 3),
    # token; notifications with their messages and senders
    "notifications": (lambda root: reverse("api:notification-list"), 2),
    # token; usernames
    "user search": (lambda root: reverse("api:user-search") + "?prefix=friend", 2),
}


@pytest.mark.parametrize("page", PAGES)
def test_api_reads_take_a_fixed_number_of_queries(page, alice, bob, make_user, token_for, django_assert_num_queries):
    url_of, expected = PAGES[page]
    client = JsonClient(HTTP_AUTHORIZATION=f"Bearer {token_for(bob)}")
    for scale in (1, 8):
        root = fill(alice, bob, make_user, scale=scale)
        url = url_of(root)
        from django.core.cache import cache

        cache.clear()  # the cached list and the badge count: count a cold request
        with django_assert_num_queries(expected):
            response = client.get(url)
        assert response.status_code == 200, response.content[:200]
        data = response.json()
        assert page in ("me", "message") or data.get("results") or data.get("replies") or data.get("versions"), page


def test_a_cached_conversation_page_skips_the_messages_query(alice, bob, make_user, token_for, django_assert_num_queries):
    root = fill(alice, bob, make_user, scale=3)
    client = JsonClient(HTTP_AUTHORIZATION=f"Bearer {token_for(bob)}")
    url = reverse("api:conversation-messages", args=[root.conversation_id])
    client.get(url)
    with django_assert_num_queries(2):  # token; conversation (its version is the cache key)
        assert client.get(url).status_code == 200


def test_with_the_session_authentication_is_the_user_query(alice, bob, make_user, django_assert_num_queries):
    fill(alice, bob, make_user, scale=2)
    client = JsonClient()
    client.force_login(bob)
    with django_assert_num_queries(3):  # user (session from the cache); conversations; last messages
        assert client.get(reverse("api:conversation-list")).status_code == 200


def test_notification_rows_need_no_query_each(alice, bob, token_for, django_assert_num_queries):
    for n in range(30):
        actions.send_message(alice, to=bob, content=f"n{n}")
    assert Notification.objects.filter(user=bob).count() == 30
    client = JsonClient(HTTP_AUTHORIZATION=f"Bearer {token_for(bob)}")
    with django_assert_num_queries(2):
        assert len(client.get(reverse("api:notification-list")).json()["results"]) == 30
