"""Threads: tree assembly, how the page nests it, replying into it, who may see it."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from messaging import actions
from messaging.models import Message
from messaging.threads import build_tree, walk

from .conftest import HX

pytestmark = pytest.mark.django_db


class ThreadShape(HTMLParser):
    """Each thread node's text and how many reply groups hold it, nested as a browser nests them."""

    def __init__(self, html: str):
        super().__init__()
        self.open: list[list[str]] = []  # the classes of every <div> not closed yet
        self.nodes: list[tuple[str, int]] = []
        self.in_body = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag != "div":
            return
        classes = (dict(attrs).get("class") or "").split()
        if "thread-node" in classes:
            self.nodes.append(("", sum("thread-children" in c for c in self.open)))
        self.in_body = "message-body" in classes and bool(self.open) and "thread-node" in self.open[-1]
        self.open.append(classes)

    def handle_endtag(self, tag):
        if tag == "div":
            assert self.open, "a </div> closes nothing"
            self.open.pop()
            self.in_body = False

    def handle_data(self, data):
        if self.in_body and data.strip():
            text, level = self.nodes[-1]
            self.nodes[-1] = (text + data.strip(), level)


def thread_url(message):
    return reverse("messaging:thread-detail", args=[message.pk])


@pytest.fixture
def tree(alice, bob, message):
    """Alice's "Hello Bob" with replies written in this order:

    Hello Bob
      a          (bob)
        a1       (alice)
          a1x    (bob)
        a2       (alice, written after b: still shown under a)
      b          (bob)
        b1       (alice)
    """
    a = actions.reply_to_message(message, sender=bob, content="a")
    a1 = actions.reply_to_message(a, sender=alice, content="a1")
    b = actions.reply_to_message(message, sender=bob, content="b")
    actions.reply_to_message(a1, sender=bob, content="a1x")
    actions.reply_to_message(a, sender=alice, content="a2")
    actions.reply_to_message(b, sender=alice, content="b1")
    return message


DISPLAY = [("a", 1), ("a1", 2), ("a1x", 3), ("a2", 2), ("b", 1), ("b1", 2)]


def test_tree_keeps_each_reply_under_its_parent_in_time_order(tree, alice, bob):
    nodes = list(walk(build_tree(tree, Message.objects.thread_of(tree))))
    assert [(n.message.content, n.depth) for n in nodes] == DISPLAY
    top = build_tree(tree, Message.objects.thread_of(tree))
    assert [n.message.content for n in top] == ["a", "b"]
    assert [c.message.content for c in top[0].children] == ["a1", "a2"]
    # Whom each reply answers, for the flat deep levels.
    senders = {n.message.content: n.message.parent_sender for n in nodes}
    assert senders["a"] == alice and senders["a1"] == bob and senders["a1x"] == alice


def test_tree_of_a_reply_counts_depth_from_that_reply(tree):
    a = Message.objects.get(content="a")
    nodes = list(walk(build_tree(a, Message.objects.thread_of(a))))
    assert [(n.message.content, n.depth) for n in nodes] == [("a1", 1), ("a1x", 2), ("a2", 1)]


def test_walk_closes_exactly_the_groups_it_opens(tree, alice, bob):
    # Add a deep branch, so closes pile up at the end.
    parent = Message.objects.get(content="b1")
    for n in range(8):
        parent = actions.reply_to_message(parent, sender=bob if n % 2 == 0 else alice, content=f"deep{n}")
    open_groups = 0
    for node in walk(build_tree(tree, Message.objects.thread_of(tree))):
        assert open_groups == node.depth - 1, node.message.content  # it sits in its parent's group
        open_groups += 1 - node.closes  # opens its own group, then closes some
        assert open_groups >= 0
    assert open_groups == 0


def test_thread_fragment_nests_each_reply_under_the_one_it_answers(tree, bob_client):
    response = bob_client.get(thread_url(tree), headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    shape = ThreadShape(html)
    assert shape.open == []  # every group it opened is closed
    assert shape.nodes == [(text, depth - 1) for text, depth in DISPLAY]


def test_thread_page_shows_the_root_then_the_nested_replies(tree, alice_client):
    html = alice_client.get(thread_url(tree)).content.decode()
    assert "<html" in html and "<h1" in html
    shape = ThreadShape(html.split("<main", 1)[1].split("</main>", 1)[0])
    assert shape.nodes == [("Hello Bob", 0)] + [(text, depth - 1) for text, depth in DISPLAY]


def test_deep_replies_say_whom_they_answer(alice, bob, bob_client, message):
    parent = message
    for depth in range(1, 8):
        parent = actions.reply_to_message(parent, sender=bob if depth % 2 else alice, content=f"depth {depth}")
    html = bob_client.get(thread_url(message), headers=HX).content.decode()
    shape = ThreadShape(html)
    assert shape.nodes == [(f"depth {d}", d - 1) for d in range(1, 8)]
    # app.css shows the label from the sixth level on, where indentation stops.
    assert html.count('class="replying-to"') == 7
    assert "↪ replying to you" in html and "↪ replying to alice" in html


@pytest.mark.parametrize("who,status", [("alice", 200), ("bob", 200), ("carol", 404)])
def test_only_the_two_people_see_a_thread(tree, who, status, alice_client, bob_client, carol_client):
    client = {"alice": alice_client, "bob": bob_client, "carol": carol_client}[who]
    a1 = Message.objects.get(content="a1")
    for message in (tree, a1):  # the thread of the first message, and of a reply inside it
        for headers in ({}, HX):
            response = client.get(thread_url(message), headers=headers)
            assert response.status_code == status
            assert (b"a1x" in response.content) == (status == 200)


def test_reply_htmx_joins_the_conversation_and_open_threads_redraw(tree, bob_client):
    a1 = Message.objects.get(content="a1")
    thread_page = bob_client.get(thread_url(tree), headers=HX).content.decode()
    since = int(re.search(r"\?since=(\d+)", thread_page).group(1))
    assert bob_client.get(thread_url(tree), {"since": since}, headers=HX).status_code == 204  # nothing new yet
    response = bob_client.post(reverse("messaging:message-reply", args=[a1.pk]), {"content": "new one"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    reply = Message.objects.get(content="new one")
    assert reply.parent_message == a1 and reply.receiver.username == "alice"
    # It joins the conversation; every open thread redraws itself (message-sent, and the live event).
    assert 'hx-swap-oob="beforeend:#message-items"' in html and f'id="message-{reply.pk}"' in html
    assert "replies-to-" not in html and "message-sent" in response["HX-Trigger"]
    redrawn = bob_client.get(thread_url(tree), {"since": since}, headers=HX)
    assert redrawn.status_code == 200
    # ...with it in its place, under a1 after a1x.
    nodes = ThreadShape(redrawn.content.decode()).nodes
    assert nodes[:4] == [("a", 0), ("a1", 1), ("a1x", 2), ("new one", 2)]


def test_reply_from_the_thread_page_without_js_goes_back_to_the_thread(tree, alice_client):
    a1x = Message.objects.get(content="a1x")
    page = alice_client.get(thread_url(tree)).content.decode()
    reply_url = reverse("messaging:message-reply", args=[a1x.pk])
    assert f'href="{reply_url}?thread={tree.pk}"' in page

    form = alice_client.get(reply_url, {"thread": tree.pk}).content.decode()
    assert f'<input type="hidden" name="thread" value="{tree.pk}">' in form
    assert f'href="{thread_url(tree)}" class="btn btn-sm btn-outline-secondary" data-cancel' in form  # Cancel, too
    response = alice_client.post(reply_url, {"content": "deeper", "thread": tree.pk})
    reply = Message.objects.get(content="deeper")
    assert response.status_code == 302
    assert response["Location"] == f"{thread_url(tree)}#node-{reply.pk}"
    assert ("deeper", 3) in ThreadShape(alice_client.get(response["Location"]).content.decode()).nodes


@pytest.mark.parametrize("thread", ["", "abc", "-1", "\x00"])
def test_reply_without_a_thread_goes_back_to_the_conversation(bob_client, message, thread):
    url = reverse("messaging:message-reply", args=[message.pk])
    response = bob_client.post(url, {"content": "ok", "thread": thread})
    reply = Message.objects.get(content="ok")
    assert response.status_code == 302 and response["Location"] == reply.get_absolute_url()


def test_reply_errors_are_inline_and_keep_the_text(bob_client, message):
    url = reverse("messaging:message-reply", args=[message.pk])
    for headers in ({}, HX):
        response = bob_client.post(url, {"content": "z" * 5001}, headers=headers)
        assert response.status_code == 422
        assert "at most 5,000" in response.content.decode() and ("z" * 5001) in response.content.decode()
        response = bob_client.post(url, {"content": "  "}, headers=headers)
        assert response.status_code == 422 and "can&#x27;t be empty" in response.content.decode()
    assert not message.replies.exists()


def test_threads_opened_in_place_add_no_duplicate_ids(tree, alice_client):
    """The conversation page with the root's thread and a reply's own thread open at once
    (both show a1 and a1x), plus a reply sent into both: every id on the page is unique."""
    import re

    a = Message.objects.get(content="a")
    a1 = Message.objects.get(content="a1")
    html = alice_client.get(reverse("messaging:conversation-detail", args=[tree.conversation_id])).content.decode()
    html += alice_client.get(thread_url(tree), headers=HX).content.decode()
    html += alice_client.get(thread_url(a), headers=HX).content.decode()
    html += alice_client.post(
        reverse("messaging:message-reply", args=[a1.pk]), {"content": "in both"}, headers=HX
    ).content.decode()
    ids = re.findall(r'\sid="([^"]+)"', html)
    for replaced in re.findall(r'<[^>]*\sid="([^"]+)"[^>]*hx-swap-oob="true"', html):
        ids.remove(replaced)  # an out-of-band swap takes the place of the element with its id
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    # The thread page keeps one anchor per reply (where a reply sent without JavaScript lands).
    page = alice_client.get(thread_url(tree)).content.decode()
    assert f'id="node-{a1.pk}"' in page and page.count(f'id="node-{a1.pk}"') == 1


# --- An open thread redrawing itself keeps the pieces it had ------------------------------------


def shown_replies(response) -> list[str]:
    return re.findall(r'data-testid="thread-node" data-node-of="\d+">.*?<div class="message-body"[^>]*>([^<]*)<',
                      response.content.decode(), re.S)  # fmt: skip


def test_a_redraw_keeps_what_show_more_brought_and_adds_what_is_new(alice, bob, bob_client, message, settings):
    settings.THREAD_PAGE_SIZE = 3
    replies = [actions.reply_to_message(message, sender=alice if i % 2 else bob, content=f"reply {i}") for i in range(7)]
    url = reverse("messaging:thread-detail", args=[message.pk])
    first = bob_client.get(url, headers=HX)
    assert shown_replies(first) == ["reply 0", "reply 1", "reply 2"]
    version = re.search(r"\?since=(\d+)", first.content.decode()).group(1)
    # Bob pressed "Show more replies" once: he sees five. Nothing changed: nothing to redraw.
    assert bob_client.get(url, {"since": version, "through": replies[4].pk}, headers=HX).status_code == 204
    # Alice replies: the redraw has the five he had and the new one, not the two still behind the link.
    actions.reply_to_message(message, sender=alice, content="reply new")
    redraw = bob_client.get(url, {"since": version, "through": replies[4].pk}, headers=HX)
    texts = shown_replies(redraw)
    assert texts[:5] == ["reply 0", "reply 1", "reply 2", "reply 3", "reply 4"] and "Show more replies" in redraw.content.decode()
    assert "reply new" not in texts  # it comes after replies 5 and 6, still behind the link


def test_a_redraw_of_a_thread_shown_to_its_end_shows_the_new_reply(alice, bob, bob_client, message, settings):
    settings.THREAD_PAGE_SIZE = 3
    replies = [actions.reply_to_message(message, sender=alice, content=f"reply {i}") for i in range(5)]
    url = reverse("messaging:thread-detail", args=[message.pk])
    version = re.search(r"\?since=(\d+)", bob_client.get(url, headers=HX).content.decode()).group(1)
    actions.reply_to_message(replies[4], sender=bob, content="an answer to the last")
    redraw = bob_client.get(url, {"since": version, "through": replies[4].pk}, headers=HX)
    assert shown_replies(redraw) == ["reply 0", "reply 1", "reply 2", "reply 3", "reply 4", "an answer to the last"]
    assert "Show more replies" not in redraw.content.decode()


@pytest.mark.parametrize("through", ["0", "junk", "999999999"])
def test_a_redraw_through_nothing_of_this_thread_is_its_first_piece(alice, bob, bob_client, message, settings, carol, through):
    settings.THREAD_PAGE_SIZE = 2
    for i in range(4):
        actions.reply_to_message(message, sender=alice, content=f"reply {i}")
    elsewhere = actions.send_message(carol, to=bob, content="not in this thread")
    url = reverse("messaging:thread-detail", args=[message.pk])
    for value in (through, str(elsewhere.pk)):
        assert shown_replies(bob_client.get(url, {"through": value}, headers=HX)) == ["reply 0", "reply 1"]


def test_a_redraw_brings_no_more_than_its_cap(alice, bob, bob_client, message, settings):
    settings.THREAD_PAGE_SIZE, settings.THREAD_REDRAW_MAX_REPLIES = 2, 4
    replies = [actions.reply_to_message(message, sender=alice, content=f"reply {i}") for i in range(6)]
    url = reverse("messaging:thread-detail", args=[message.pk])
    redraw = bob_client.get(url, {"through": replies[5].pk}, headers=HX)
    assert len(shown_replies(redraw)) == 4 and "Show more replies" in redraw.content.decode()


def test_pieces_asked_for_by_the_thread_page_reply_back_to_it(alice, bob, bob_client, message, settings):
    """Replies in a piece the thread page loaded (or redrew) know they are on the thread page:
    their reply form sends back no row for a conversation list the page does not have."""
    settings.THREAD_PAGE_SIZE = 1
    actions.reply_to_message(message, sender=alice, content="first")
    second = actions.reply_to_message(message, sender=alice, content="second")
    url = reverse("messaging:thread-detail", args=[message.pk])
    conversation_url = "http://testserver" + message.conversation.get_absolute_url()
    for current, on_thread_page in ((f"http://testserver{url}", True), (conversation_url, False)):
        piece = bob_client.get(url, {"after": message.replies.order_by("pk").first().pk},
                               headers={**HX, "HX-Current-URL": current}).content.decode()  # fmt: skip
        hx_reply = re.search(r'hx-get="([^"]*/reply/[^"]*)"', piece).group(1)
        assert hx_reply.endswith(f"?thread={message.pk}") is on_thread_page
        assert (f'id="node-{second.pk}"' in piece) is on_thread_page
    sent = bob_client.post(reverse("messaging:message-reply", args=[second.pk]), {"content": "answer", "thread": message.pk}, headers=HX)
    assert sent.status_code == 200 and "#message-items" not in sent.content.decode()
