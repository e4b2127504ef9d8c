"""Live updates: the event stream brings each change at once, a cut stream loses nothing,
and a hidden tab sends nothing."""

import re
import time

import pytest
from playwright.sync_api import expect

from . import helpers

HIDE = """
(() => {
  let hidden = false;
  Object.defineProperty(document, "hidden", { get: () => hidden, configurable: true });
  Object.defineProperty(document, "visibilityState", { get: () => (hidden ? "hidden" : "visible"), configurable: true });
  window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
})();
"""


def wait_for_stream(page):
    """Until the page's event stream is open (the server then has it subscribed)."""
    # A locator, not wait_for_function: polling a string predicate is an eval, which our CSP refuses.
    expect(page.locator("body[data-stream='open']")).to_have_count(1, timeout=10_000)


def test_a_message_reaches_the_other_person_in_under_a_second(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "Are you there?")
    wait_for_stream(bob)
    for n in range(3):
        text = f"live message {n}"
        helpers.send_in_conversation(alice, text)
        expect(helpers.message(alice, text)).to_be_visible()
        started = time.monotonic()
        expect(helpers.message(bob, text)).to_be_visible(timeout=1_000)
        assert time.monotonic() - started < 1.0
    # And back, with "Seen" for the sender just as fast.
    helpers.send_in_conversation(bob, "Yes, here")
    expect(helpers.message(alice, "Yes, here")).to_be_visible(timeout=1_000)
    expect(helpers.message(bob, "Yes, here").get_by_test_id("seen")).to_be_visible(timeout=1_000)


def test_the_inbox_reorders_and_the_unread_list_grows_without_a_reload(new_user):
    alice, alice_name = new_user("alice")
    carol, carol_name = new_user("carol")
    bob, bob_name = new_user("bob")
    helpers.compose(alice, bob_name, "from alice, first")
    helpers.compose(carol, bob_name, "from carol, later")
    bob.goto("/")
    wait_for_stream(bob)
    conversations = bob.get_by_role("region", name="Conversations").get_by_test_id("conversation")
    expect(conversations.first).to_contain_text(carol_name)
    expect(bob.get_by_test_id("unread-message")).to_have_count(2)

    helpers.send_in_conversation(alice, "alice again")
    expect(conversations.first).to_contain_text(alice_name, timeout=2_000)
    expect(conversations.first).to_contain_text("alice again")
    expect(bob.get_by_test_id("unread-message")).to_have_count(3, timeout=2_000)
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox, 3 unread")
    expect(bob).to_have_title(re.compile(r"^\(3\) "))


def test_a_server_restart_loses_nothing(new_user, asgi_server, expect_console_errors, remote_base_url):
    if remote_base_url:
        pytest.skip("restarts the in-process server; a remote one cannot be restarted from here")
    expect_console_errors(r"sse", r"EventSource", r"object Event", r"net::ERR_", r"Failed to load resource")
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "before the restart")
    wait_for_stream(bob)
    bob.evaluate("document.body.dataset.stream = 'was-open'")
    asgi_server.restart()  # every stream is cut
    helpers.send_in_conversation(alice, "sent right after the restart")
    expect(helpers.message(alice, "sent right after the restart")).to_be_visible()
    # Bob's page reconnects by itself and catches up on what it missed.
    expect(helpers.message(bob, "sent right after the restart")).to_be_visible(timeout=10_000)
    wait_for_stream(bob)
    helpers.send_in_conversation(alice, "and after that")
    expect(helpers.message(bob, "and after that")).to_be_visible(timeout=1_000)
    expect(helpers.message(bob, "sent right after the restart")).to_have_count(1)  # not doubled


def test_a_dropped_connection_loses_nothing(new_user, expect_console_errors):
    # What was in flight when the network went fails, as it should.
    expect_console_errors(r"sse", r"EventSource", r"object Event", r"net::ERR_", r"Failed to load resource",
                          r"htmx:sendError", r"htmx:afterRequest")
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "before the blip")
    wait_for_stream(bob)
    bob.context.set_offline(True)  # the stream (and everything else) drops
    helpers.send_in_conversation(alice, "sent during the blip")
    expect(helpers.message(alice, "sent during the blip")).to_be_visible()
    helpers.send_in_conversation(alice, "and another one")
    expect(helpers.message(alice, "and another one")).to_be_visible()
    bob.context.set_offline(False)
    expect(helpers.message(bob, "sent during the blip")).to_be_visible(timeout=10_000)
    expect(helpers.message(bob, "and another one")).to_have_count(1)


@pytest.fixture
def quick_polls(remote_base_url, settings):
    """Polls every second or two here (a remote server keeps its own 4 s and 10 s)."""
    if remote_base_url:
        return 12_000
    settings.CONVERSATION_POLL_SECONDS, settings.UNREAD_BADGE_POLL_SECONDS = 1, 2
    return 5_000


def test_a_hidden_tab_sends_no_request_and_catches_up_when_shown(new_user, quick_polls):
    alice, alice_name = new_user("alice")
    bob, bob_name = new_user("bob")
    bob.add_init_script(HIDE)
    helpers.compose(alice, bob_name, "hello")
    helpers.open_conversation(bob, alice_name)
    wait_for_stream(bob)

    sent = []
    bob.on("request", lambda request: sent.append(request.url))
    bob.evaluate("window.__setHidden(true)")
    helpers.send_in_conversation(alice, "while you were away")
    expect(helpers.message(alice, "while you were away")).to_be_visible()
    # Proving that nothing happens takes waiting: longer than both poll intervals.
    bob.wait_for_timeout(quick_polls)
    assert sent == [], sent
    expect(helpers.message(bob, "while you were away")).to_have_count(0)

    bob.evaluate("window.__setHidden(false)")
    expect(helpers.message(bob, "while you were away")).to_be_visible(timeout=2_000)
    assert sent, "coming back asked the server at once"
