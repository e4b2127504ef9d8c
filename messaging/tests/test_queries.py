"""Query counts of the busy pages: they must not grow with the data."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse

from messaging import actions
from messaging.models import Message
from messaging.threads import build_tree

from .conftest import HX

pytestmark = pytest.mark.django_db


def fill_inbox(bob, make_user, conversations, per_conversation=2):
    for n in range(conversations):
        other = make_user(f"friend{len(bob.username)}{n:03}")
        for _ in range(per_conversation):
            actions.send_message(other, to=bob, content="hi")


@pytest.mark.parametrize("conversations", [1, 10, 60])
def test_inbox_queries_are_fixed(bob, bob_client, make_user, conversations, django_assert_max_num_queries):
    fill_inbox(bob, make_user, conversations)
    bob_client.get(reverse("messaging:unread-badge"), headers=HX)  # badge count cached
    # session, user, unread page, conversations page, last messages
    with django_assert_max_num_queries(5):
        response = bob_client.get(reverse("messaging:inbox"))
    assert response.status_code == 200


@pytest.mark.parametrize("size", [1, 20, 200])
def test_conversation_page_queries_are_fixed(alice, bob, bob_client, size, django_assert_max_num_queries):
    message = None
    for n in range(size):
        message = actions.send_message(alice, to=bob, content=f"m{n}")
        if n % 3 == 0:
            actions.reply_to_message(message, sender=bob, content="re")
    actions.mark_conversation_read(message.conversation, user=bob)
    bob_client.get(reverse("messaging:unread-badge"), headers=HX)
    # session, user, conversation, unread ids (none left), messages page
    with django_assert_max_num_queries(6):
        bob_client.get(reverse("messaging:conversation-detail", args=[message.conversation_id]))


def statements(queries):
    """The queries a request would run: SAVEPOINTs exist only because the test runs in a transaction."""
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


def test_send_takes_at_most_six_queries(alice, bob):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    actions.send_message(alice, to=bob, content="first")  # the conversation exists
    with CaptureQueriesContext(connection) as queries:
        actions.send_message(alice, to=bob, content="second")
    # lock receiver, conversation, insert message, bump version, stamp message, insert notification
    assert len(statements(queries)) <= 6, statements(queries)


def build_chain(alice, bob, replies, depth):
    """A root with `replies` replies arranged in chains `depth` deep.

    Written one level at a time with bulk_create (one INSERT per level), so 5,000
    replies 50 deep take 50 statements. Timestamps rise level by level, as they would.
    """
    root = actions.send_message(alice, to=bob, content="root")
    chains = -(-replies // depth)  # ceil
    parents = [root] * chains
    start = root.timestamp
    created = 0
    for level in range(1, depth + 1):
        batch = []
        for parent in parents[: replies - created]:
            batch.append(
                Message(
                    sender=bob if level % 2 else alice, receiver=alice if level % 2 else bob,
                    content=f"r{created + len(batch)}", parent_message=parent,
                    conversation_id=root.conversation_id, timestamp=start + timedelta(milliseconds=level),
                )
            )
        if not batch:
            break
        parents = Message.objects.bulk_create(batch)
        created += len(batch)
    return root


THREAD_SIZES = [(1, 1), (50, 10), (500, 50), (5000, 50)]


def test_build_chain_makes_the_size_asked(alice, bob):
    root = build_chain(alice, bob, 5000, 50)
    rows = list(Message.objects.thread_of(root))
    assert len(rows) == 5001 and max(r.depth for r in rows) == 50
    assert Message.objects.filter(parent_message=root).count() == 100


@pytest.mark.parametrize("replies,depth", THREAD_SIZES)
def test_thread_fetch_is_one_query_at_any_size(alice, bob, replies, depth, django_assert_num_queries):
    root = build_chain(alice, bob, replies, depth)
    with django_assert_num_queries(1):
        rows = list(Message.objects.thread_of(root))
    assert len(rows) == replies + 1
    assert max(r.depth for r in rows) == min(depth, replies)
    with django_assert_num_queries(0):
        tree = build_tree(root, rows)
        [n.message.sender.username for n in tree]


def next_piece(html: str):
    found = re.search(r'href="([^"]*\?after=\d+)"', html)
    return found.group(1) if found else None


@pytest.mark.parametrize("replies,depth", THREAD_SIZES)
def test_thread_view_queries_are_fixed(alice, bob, bob_client, replies, depth, django_assert_max_num_queries):
    root = build_chain(alice, bob, replies, depth)
    bob_client.get(reverse("messaging:unread-badge"), headers=HX)
    url, seen, pieces = reverse("messaging:thread-detail", args=[root.pk]), set(), 0
    while url:  # every piece, as htmx asks for them ("Show more replies")
        # session, user, root (access), the thread's shape (one recursive query), the piece's rows
        with django_assert_max_num_queries(4):
            response = bob_client.get(url, headers=HX)
        html = response.content.decode()
        nodes = re.findall(r'data-testid="thread-node" data-node-of="(\d+)"', html)
        assert len(nodes) <= settings.THREAD_PAGE_SIZE and not seen & set(nodes)
        seen |= set(nodes)
        assert html.count("<div") == html.count("</div>")  # every reply group closed, however deep
        url, pieces = next_piece(html), pieces + 1
    assert len(seen) == replies and pieces == max(1, -(-replies // settings.THREAD_PAGE_SIZE))
    # The full page adds nothing per reply: the root is already loaded, the badge is cached.
    with django_assert_max_num_queries(4):
        response = bob_client.get(reverse("messaging:thread-detail", args=[root.pk]))
    html = response.content.decode()
    assert html.count('data-testid="thread-node"') == min(replies, settings.THREAD_PAGE_SIZE) + 1  # and the root
    # Without JavaScript, the link is the thread page's next piece.
    if replies > settings.THREAD_PAGE_SIZE:
        response = bob_client.get(next_piece(html))
        assert response.status_code == 200 and "<html" in response.content.decode()
        assert response.content.decode().count('data-testid="thread-node"') == min(replies - settings.THREAD_PAGE_SIZE, settings.THREAD_PAGE_SIZE) + 1


def test_thread_view_runs_the_same_queries_for_1_and_5000_replies(alice, bob, bob_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for replies, depth in THREAD_SIZES:
        root = build_chain(alice, bob, replies, depth)
        bob_client.get(reverse("messaging:unread-badge"), headers=HX)
        with CaptureQueriesContext(connection) as queries:
            response = bob_client.get(reverse("messaging:thread-detail", args=[root.pk]), headers=HX)
        assert response.status_code == 200
        counts[replies] = len(statements(queries))
    assert len(set(counts.values())) == 1, counts
