"""The scenarios: threads, the inbox at growing sizes, the cached conversation partial, the badge poll, writes."""

from __future__ import annotations

import time
from itertools import count

from django.conf import settings
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from django.template import engines
from django.template.loader import render_to_string

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
            # The first piece of the thread ("Show more replies" brings the next).
            assert response.content.count(b'data-testid="thread-node"') == min(expected, settings.THREAD_PAGE_SIZE)

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
    measure_render_floor(bench, threads)

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

    # b2. Work that grows with the unread count: the inbox page and the badge, counted afresh
    # (the badge cache forgotten before each run), for a user with few and one with many unread.
    page_cases, badge_cases, unread_users = [], [], []
    for n in plan["unread_sizes"]:
        t0 = time.perf_counter()
        with fast_build(conn):
            user, _, _ = builder.inbox_user(unread=n)
        build_seconds[f"unread user {n}"] = round(time.perf_counter() - t0, 1)
        unread_users.append(user)
        client = Client()
        client.force_login(user)
        headers = {**HX, BADGE_TOKEN_HEADER: badge_token(user.pk, client.session.session_key)}
        page_cases.append((n, f"{n:,} unread", lambda c=client: c.get(reverse("messaging:inbox"), secure=True),
                           ok_status))  # fmt: skip
        badge_cases.append((n, f"{n:,} unread", lambda c=client, h=headers: c.get(
            reverse("messaging:unread-badge"), headers=h, secure=True), ok_status))  # fmt: skip
    forget = lambda: forget_badges(*(u.pk for u in unread_users))  # noqa: E731
    bench.measure_series("unread-inbox", "unread: inbox page GET / (count afresh)", page_cases, setup=forget)
    bench.measure_series("unread-badge-miss", "unread: badge poll, cache miss", badge_cases, setup=forget)
    bench.rows.append(unread_plan(conn, unread_users[-1], plan["unread_sizes"][-1]))

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

    # Through the views, every statement, transaction control included (the bench runs in
    # autocommit: each write's transaction is one BEGIN and one COMMIT; a SAVEPOINT would be
    # logged and counted).
    conversation_url = reverse("messaging:conversation-detail", args=[busy_conversation_id])
    reply_url = reverse("messaging:message-reply", args=[parent.pk])
    edit_url = reverse("messaging:message-edit", args=[own.pk])

    def send_view():
        return inbox_client.post(conversation_url, {"content": f"bench view {next(texts)}"}, headers=HX, secure=True)

    def reply_view():
        return inbox_client.post(reply_url, {"content": f"bench view reply {next(texts)}"}, headers=HX, secure=True)

    def edit_view():
        return inbox_client.post(edit_url, {"content": f"bench view edit {next(texts)}"}, headers=HX, secure=True)

    unlimited = {name: "1000000/m" for name in settings.RATE_LIMITS}
    with override_settings(RATE_LIMITS=unlimited):
        for scenario, label, fn in (("view-send", "write view: send (all statements)", send_view),
                                    ("view-reply", "write view: reply (all statements)", reply_view),
                                    ("view-edit", "write view: edit (all statements)", edit_view)):
            row = bench.measure(scenario, label, final_size, final_label, fn, check=ok_status)
            with CaptureQueriesContext(conn) as captured:
                ok_status(fn())
            row.sql = [q["sql"] for q in captured.captured_queries]
            # SQLite (transaction_mode IMMEDIATE) logs its BEGIN and COMMIT; PostgreSQL's are
            # issued by the driver, unlogged: counted here.
            logged = any(sql.upper().startswith("BEGIN") for sql in row.sql)
            row.queries = len(row.sql) + (0 if logged else 2)


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


# The floor: the same rows (id, content, sender name, time) through the least a Django template
# loop can be, fetched by one plain query. A fragment's cost (its selector and its template,
# no HTTP around them) is compared with it, row for row, in the same run.
FLOOR_TEMPLATE = (
    '{% for id, content, sender, time in rows %}<p id="m{{ id }}">{{ sender }} {{ time }} {{ content }}</p>{% endfor %}'
)


def floor_of(ids):
    template = engines["django"].from_string(FLOOR_TEMPLATE)

    def floor():
        rows = [
            (str(pk), content, sender, timestamp.isoformat())
            for pk, content, sender, timestamp in Message.objects.filter(pk__in=ids)
            .order_by("timestamp", "pk").values_list("id", "content", "sender__username", "timestamp")
        ]
        return template.render({"rows": rows})

    return floor


def measure_render_floor(bench, threads) -> None:
    """For each thread size: the thread fragment and the conversation fragment of the same
    conversation, each against the floor of the rows it shows."""
    from messaging.views.messages import thread_context

    for size, size_label, root in threads:
        viewer = root.sender

        def thread_fragment(root=root, viewer=viewer):
            page = selectors.thread_page(root, viewer=viewer)
            return page, render_to_string("messaging/thread.html#thread-replies",
                                          {**thread_context(root, page, after=None), "user": viewer})

        page, html = thread_fragment()
        shown = [int(n["id"]) for run in page.runs for n in run.nodes]
        assert html.count('data-testid="thread-node"') == len(shown)
        conversation = Conversation.objects.get(pk=root.conversation_id)

        def conversation_fragment(conversation=conversation, viewer=viewer):
            page = selectors.conversation_page(viewer, conversation)
            return page, render_to_string("messaging/conversation.html#message-page", {**vars(page), "user": viewer})

        conversation_page, html = conversation_fragment()
        listed = [m.pk for m in conversation_page.message_rows]
        assert html.count('data-testid="message"') == len(listed)
        label = f"{size_label}"
        bench.measure_series("render-thread", "render: thread fragment", [
            (size, f"{label}, {len(shown)} shown", thread_fragment, None),
            (size, f"{label}, floor of {len(shown)}", floor_of(shown), None),
        ])  # fmt: skip
        bench.measure_series("render-conversation", "render: conversation fragment", [
            (size, f"{size + 1:,} messages, {len(listed)} shown", conversation_fragment, None),
            (size, f"{size + 1:,} messages, floor of {len(listed)}", floor_of(listed), None),
        ])  # fmt: skip


def unread_plan(conn, user, unread: int):
    """The unread page's query plan for the user with the most unread, after statistics."""
    from .measure import Row

    sql, params = Message.unread.for_user(user)[:21].query.sql_with_params()
    prefix = "EXPLAIN QUERY PLAN " if conn.vendor == "sqlite" else "EXPLAIN "
    with conn.cursor() as cursor:
        cursor.execute(prefix + sql, params)
        lines = [" | ".join(str(c) for c in row) if conn.vendor == "sqlite" else row[0] for row in cursor.fetchall()]
    return Row(scenario="unread-plan", label="unread: page query plan (EXPLAIN)", size=unread,
               size_label=f"{unread:,} unread", queries=1, app_queries=1, auth_queries=0, median_ms=0.0,
               min_ms=0.0, sql_ms=0.0, runs=0, sql=lines)  # fmt: skip


def worst_case_edit() -> tuple[str, str]:
    """Two 5,000-character texts with no long run of words in common (cubic for difflib on words)."""
    old = " ".join(f"w{n % 97}" for n in range(1250))[:5000]
    new = " ".join(f"w{(n * 7) % 89}" for n in range(1250))[:5000]
    return old, new
