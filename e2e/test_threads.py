"""Threaded replies: reply in place at any depth, expand and collapse a thread, the thread page, no JavaScript."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import expect

from messaging import actions
from messaging.models import Message

from . import helpers

ROOT = "Where shall we meet on Saturday?"


def root_message(page):
    # The first match: replies quote their parent, and an expanded thread holds its replies.
    return helpers.message(page, ROOT).first


def open_thread(page):
    """Expand the root message's thread in place; its replies."""
    helpers.thread_toggle(root_message(page)).click()
    return helpers.replies(root_message(page))


def x_positions(nodes) -> list[float]:
    """The left edges of these thread nodes, read in one go (a poll may redraw a thread
    between two separate reads)."""
    return nodes.evaluate_all("nodes => nodes.map(node => node.getBoundingClientRect().x)")


def assert_tree(thread):
    """At the station / Which exit? / The north one, then Or the bus stop beside Which exit?."""
    texts = ["At the station", "Which exit?", "The north one", "Or the bus stop"]
    nodes = thread.get_by_test_id("thread-node")
    expect(nodes).to_have_count(4)
    expect(nodes).to_have_text([re.compile(re.escape(text)) for text in texts])
    level1, level2, level3, sibling = x_positions(nodes)
    assert level1 < level2 < level3
    assert sibling == level2


def test_reply_three_levels_deep_shows_the_tree(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT)

    # Level 1, from the conversation: it appears at once, and the message says "1 reply".
    helpers.reply_to(bob, root_message(bob), "At the station")
    expect(helpers.message_exactly(bob, "At the station")).to_contain_text(f"Reply to {alice_name}")
    toggle = helpers.thread_toggle(root_message(bob))
    expect(toggle).to_have_text("1 reply")
    toggle.click()
    thread = helpers.replies(root_message(bob))
    expect(helpers.thread_node(thread, "At the station")).to_be_visible()

    # Level 2, by Alice inside her expanded thread: it lands under the reply it answers.
    alice_thread = open_thread(alice)
    helpers.reply_to(alice, helpers.thread_node(alice_thread, "At the station"), "Which exit?")
    expect(helpers.thread_node(alice_thread, "Which exit?")).to_be_visible()

    # Level 3, by Bob, once his open thread has Alice's reply; then a second answer to level 1,
    # which comes after level 1's whole branch, beside level 2.
    helpers.reply_to(bob, helpers.thread_node(thread, "Which exit?"), "The north one")
    expect(helpers.thread_node(thread, "The north one")).to_be_visible()
    helpers.reply_to(bob, helpers.thread_node(thread, "At the station"), "Or the bus stop")
    assert_tree(thread)
    # The replies are in the conversation too, and the counts followed.
    expect(helpers.message_exactly(bob, "The north one")).to_be_visible()
    # Counts say what they count: replies with replies of their own count as direct ones.
    expect(helpers.thread_toggle(root_message(bob))).to_have_text("1 direct reply")
    expect(helpers.thread_toggle(helpers.message_exactly(bob, "At the station"))).to_have_text("2 direct replies")

    # Alice's open thread follows by the poll; and what was drawn in place is what the server draws.
    assert_tree(alice_thread)
    alice.reload()
    helpers.thread_toggle(root_message(alice)).click()
    assert_tree(alice_thread)
    alice.goto(helpers.thread_toggle(root_message(alice)).get_attribute("href"))
    expect(alice.get_by_role("heading", name="Thread", level=1)).to_be_visible()
    assert_tree(helpers.replies(alice))


def test_a_reply_appears_in_every_open_thread(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT)
    helpers.reply_to(bob, root_message(bob), "First answer")
    toggle = helpers.thread_toggle(root_message(bob))
    toggle.click()
    thread = helpers.replies(root_message(bob))
    expect(helpers.thread_node(thread, "First answer")).to_be_visible()
    # Alice has the thread open too (her "1 reply" came by the conversation poll).
    alice_toggle = helpers.thread_toggle(root_message(alice))
    alice_toggle.click()
    alice_thread = helpers.replies(root_message(alice))
    expect(helpers.thread_node(alice_thread, "First answer")).to_be_visible()

    # Replying from the message itself (not from inside the thread) adds to the open thread at once,
    # and so does a reply from inside it, under the reply it answers.
    helpers.reply_to(bob, root_message(bob), "Second answer")
    expect(thread.get_by_test_id("thread-node")).to_have_text(
        [re.compile("First answer"), re.compile("Second answer")]
    )
    expect(toggle).to_have_text("2 replies")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    helpers.reply_to(bob, helpers.thread_node(thread, "First answer"), "Deeper answer")
    expected = [re.compile("First answer"), re.compile("Deeper answer"), re.compile("Second answer")]
    expect(thread.get_by_test_id("thread-node")).to_have_text(expected)

    # Alice's open thread follows by the poll, and stays open.
    expect(alice_thread.get_by_test_id("thread-node")).to_have_text(expected, timeout=10_000)
    expect(alice_thread).to_be_visible()
    expect(alice_toggle).to_have_text("2 direct replies")
    expect(alice_toggle).to_have_attribute("aria-expanded", "true")

    # Bob's thread stays open (and complete) when his poll refreshes the messages it shows.
    expect(helpers.message_exactly(bob, "Deeper answer").get_by_test_id("seen")).to_be_visible(timeout=10_000)
    expect(thread.get_by_test_id("thread-node")).to_have_text(expected)
    expect(thread).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def test_thread_expands_and_collapses_without_refetching(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT)
    for text in ("one", "two", "three"):
        helpers.reply_to(bob, root_message(bob), f"answer {text}")
    expect(helpers.thread_toggle(root_message(bob))).to_have_text("3 replies")

    thread_requests = []
    alice.on("request", lambda request: "/thread/" in request.url and thread_requests.append(request.url))
    alice.reload()
    toggle = helpers.thread_toggle(root_message(alice))
    expect(toggle).to_have_attribute("aria-expanded", "false")

    toggle.click()
    thread = helpers.replies(root_message(alice))
    expect(thread.get_by_test_id("thread-node")).to_contain_text(["answer one", "answer two", "answer three"])
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert len(thread_requests) == 1
    expect(alice).to_have_url(re.compile(r"/conversations/\d+/"))  # expanded in place, no navigation

    toggle.click()
    expect(thread).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(thread).to_be_visible()
    expect(thread.get_by_test_id("thread-node")).to_have_count(3)
    toggle.click()
    expect(thread).to_be_hidden()
    assert len(thread_requests) == 1, thread_requests  # only the first click asked the server


def test_deep_replies_stay_flat_and_say_whom_they_answer(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT)
    helpers.reply_to(bob, root_message(bob), "depth 1")
    thread = open_thread(bob)
    for depth in range(2, 8):
        helpers.reply_to(bob, helpers.thread_node(thread, f"depth {depth - 1}"), f"depth {depth}")
        expect(helpers.thread_node(thread, f"depth {depth}")).to_be_visible()

    def check(thread):
        nodes = thread.get_by_test_id("thread-node")
        expect(nodes).to_have_text([re.compile(f"depth {depth}") for depth in range(1, 8)])
        xs = x_positions(nodes)
        assert xs[0] < xs[1] < xs[2] < xs[3] < xs[4], xs  # five levels of indentation
        assert xs[4] == xs[5] == xs[6], xs  # then flat
        for depth in range(1, 6):
            expect(helpers.thread_node(thread, f"depth {depth}").get_by_text("replying to")).to_be_hidden()
        for depth in (6, 7):
            expect(helpers.thread_node(thread, f"depth {depth}")).to_contain_text("replying to you")

    check(thread)
    bob.goto(helpers.thread_toggle(root_message(bob)).get_attribute("href"))
    check(helpers.replies(bob))


def test_escape_and_cancel_close_the_reply_form(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT)
    helpers.reply_to(bob, root_message(bob), "kept")
    thread = open_thread(bob)
    expect(helpers.thread_node(thread, "kept")).to_be_visible()

    reply_link = root_message(bob).get_by_role("link", name="Reply to this message")
    reply_link.click()
    box = bob.get_by_label("Your reply")
    expect(box).to_be_focused()
    bob.keyboard.type("never sent")
    bob.keyboard.press("Escape")
    expect(box).to_have_count(0)
    expect(reply_link).to_be_focused()  # the keyboard is back where it was

    helpers.thread_node(thread, "kept").get_by_role("link", name=re.compile("^Reply to ")).click()
    bob.get_by_label("Your reply").fill("never sent either")
    bob.get_by_role("link", name="Cancel").click()
    expect(bob.get_by_label("Your reply")).to_have_count(0)

    # Nothing was sent, and the page was not reloaded: the thread is still open.
    expect(thread).to_be_visible()
    expect(thread.get_by_test_id("thread-node")).to_have_count(1)
    expect(helpers.thread_toggle(root_message(bob))).to_have_text("1 reply")
    expect(bob.get_by_text("never sent")).to_have_count(0)


def test_only_the_two_people_see_a_thread(new_user, expect_console_errors):
    expect_console_errors(r"status of 404")
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT)
    helpers.reply_to(bob, root_message(bob), "just between us")
    thread_url = helpers.thread_toggle(root_message(bob)).get_attribute("href")
    assert alice.goto(thread_url).status == 200
    expect(helpers.thread_node(alice, "just between us")).to_be_visible()

    carol, _ = new_user("carol")
    response = carol.goto(thread_url)
    assert response.status == 404
    expect(carol.get_by_role("heading", name="Not found")).to_be_visible()
    expect(carol.get_by_text("just between us")).to_have_count(0)


def test_reply_and_thread_page_without_javascript(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT, javascript=False)

    # The Reply link opens the reply page; sending goes back to the conversation.
    helpers.reply_to(bob, root_message(bob), "At the station")
    expect(bob.get_by_role("heading", name=f"Conversation with {alice_name}")).to_be_visible()
    expect(helpers.message(bob, "At the station")).to_be_visible()

    # "1 reply" is a link to the thread page, where replies nest and come back to the thread.
    alice.reload()
    helpers.thread_toggle(root_message(alice)).click()
    expect(alice.get_by_role("heading", name="Thread", level=1)).to_be_visible()
    thread = helpers.replies(alice)
    helpers.reply_to(alice, helpers.thread_node(thread, "At the station"), "Which exit?")
    expect(alice.get_by_role("heading", name="Thread", level=1)).to_be_visible()
    helpers.reply_to(alice, helpers.thread_node(thread, "Which exit?"), "The north one")
    expect(alice.get_by_role("heading", name="Thread", level=1)).to_be_visible()

    nodes = thread.get_by_test_id("thread-node")
    expect(nodes).to_have_count(3)
    expect(nodes).to_contain_text(["At the station", "Which exit?", "The north one"])
    xs = x_positions(nodes)
    assert xs[0] < xs[1] < xs[2], xs


def test_an_edited_reply_reads_the_same_in_the_list_and_in_open_threads(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT)
    helpers.reply_to(bob, root_message(bob), "See you at 10")
    # Both have the thread open; the reply is also in the list below it.
    bob_thread = open_thread(bob)
    expect(helpers.thread_node(bob_thread, "See you at 10")).to_be_visible()
    alice_toggle = helpers.thread_toggle(root_message(alice))
    expect(alice_toggle).to_have_text("1 reply", timeout=10_000)
    alice_toggle.click()
    alice_thread = helpers.replies(root_message(alice))
    expect(helpers.thread_node(alice_thread, "See you at 10")).to_be_visible()

    # Bob edits the reply where it stands in the list: his thread copy follows at once,
    # Alice's list and thread copies by her poll.
    helpers.edit_message(bob, helpers.message_exactly(bob, "See you at 10"), "See you at 11")
    for page, thread in ((bob, bob_thread), (alice, alice_thread)):
        node = helpers.thread_node(thread, "See you at 11")
        expect(node).to_be_visible(timeout=10_000)
        expect(node.get_by_role("link", name="Edited: see earlier versions")).to_be_visible()
        expect(helpers.thread_node(thread, "See you at 10")).to_have_count(0)
        expect(helpers.message_exactly(page, "See you at 11")).to_be_visible()


@pytest.fixture
def pieces_of_three(settings, remote_base_url):
    if remote_base_url:
        pytest.skip("makes the server's thread pieces small and writes replies with the actions: needs the local server")
    settings.THREAD_PAGE_SIZE = 3


IDEAS = ["First idea", "Second idea", "Third idea", "Fourth idea", "Fifth idea"]


def test_an_open_thread_keeps_the_replies_it_loaded_when_one_arrives(new_user, pieces_of_three):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, ROOT)
    people = {u.username: u for u in get_user_model().objects.filter(username__in=[alice_name, bob_name])}
    root = Message.objects.get(content=ROOT, sender__username=alice_name)
    for i, idea in enumerate(IDEAS):
        actions.reply_to_message(root, sender=people[bob_name if i % 2 == 0 else alice_name], content=idea)
    url = reverse("messaging:thread-detail", args=[root.pk])

    # Alice reads the thread in pieces: three, then "Show more replies" brings the other two.
    alice.goto(url)
    thread = helpers.replies(alice)
    nodes = thread.get_by_test_id("thread-node")
    expect(nodes).to_have_count(3)
    alice.get_by_role("link", name="Show more replies").click()
    expect(nodes).to_have_count(5)
    expect(alice.get_by_role("link", name="Show more replies")).to_have_count(0)

    # Bob answers the last idea from his own thread page.
    bob.goto(url)
    bob.get_by_role("link", name="Show more replies").click()
    helpers.reply_to(bob, helpers.thread_node(helpers.replies(bob), "Fifth idea"), "Agreed, the fifth")

    # Alice's thread redraws itself with the new reply: the two pieces she had stay, in place.
    expect(nodes).to_have_count(6, timeout=10_000)
    expect(nodes).to_contain_text([*IDEAS, "Agreed, the fifth"])
    expect(alice.get_by_role("link", name="Show more replies")).to_have_count(0)
