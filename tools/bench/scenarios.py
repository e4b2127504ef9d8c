"""The scenarios: threads, the inbox at growing sizes, the cached conversation partial, the badge poll, writes."""

from __future__ import annotations

import time
from itertools import count

from django.test import Client
from django.urls import reverse

from messaging import actions, selectors
from messaging.models import Conversation, Message, MessageHistory, Notification
from messaging.pagination import keyset_page
from messaging.selectors import SEARCH_PAGE_SIZE
from messaging.threads import build_tree
from messaging.unread import BADGE_TOKEN_HEADER, badge_token, forget_badges

from .build import Builder, fast_build
from .measure import Bench, explain_inbox, ok_status

HX = {"HX-Request": "true"}
SEARCH_HX = {**HX, "HX-Target": "search-results"}
SEARCH_WORD = "coffee"


def measure_all(conn, plan: dict, *, seed: int, stream, log) -> tuple[Bench, list[dict], dict[str, float]]:
    """Build each scenario's data and measure it; returns the measurements, the inbox plans
    at the largest size, and the build time of each step."""
    builder = Builder(conn, seed=seed, stream=stream)
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

        # Search as the reader types: the results fragment of a common word (about half of
        # the user's messages have it, and as many of everybody else's).
        def search_results():
            return inbox_client.get(reverse("messaging:search"), {"q": SEARCH_WORD}, headers=SEARCH_HX, secure=True)

        def check_search(response):
            ok_status(response)
            assert response.content.count(b'data-testid="search-result"') == SEARCH_PAGE_SIZE, "too few results"

        bench.measure("search-page", "search: results GET /search/?q=", size, size_label, search_results,
                      check=check_search)
        def check_found(page):
            assert len(page.results) == SEARCH_PAGE_SIZE, "too few results"

        bench.measure("search-messages", "search: search_messages", size, size_label,
                      lambda: selectors.search_messages(focus, SEARCH_WORD), check=check_found)
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

    # f. The history of the worst edit a user may make: 5,000 characters rewritten word by word.
    old, new = worst_case_edit()
    rewritten = actions.send_message(focus, to=partner, content=old)
    actions.edit_message(rewritten, editor=focus, content=new)
    history_url = reverse("messaging:message-history", args=[rewritten.pk])

    def history():
        return inbox_client.get(history_url, headers=HX, secure=True)

    bench.measure("history-worst-edit", "history: 5,000-character rewrite", final_size, final_label, history,
                  check=ok_status)
    return bench, explain, build_seconds


def worst_case_edit() -> tuple[str, str]:
    """Two 5,000-character texts with no long run of words in common (cubic for difflib on words)."""
    old = " ".join(f"w{n % 97}" for n in range(1250))[:5000]
    new = " ".join(f"w{(n * 7) % 89}" for n in range(1250))[:5000]
    return old, new
