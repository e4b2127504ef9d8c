"""Presence: the other person's "online" and "last seen", their display name, and the
switch that hides it. Two browsers; the online window is shortened for the journey."""

import re

import pytest
from playwright.sync_api import expect

from . import helpers

WINDOW = 3  # seconds: PRESENCE_ONLINE_SECONDS for these journeys


@pytest.fixture
def short_presence(settings, remote_base_url):
    """The server runs in this process (e2e/conftest.py): its settings are ours to shorten.
    The slow poll (once a minute while the stream is open) comes every 2 s."""
    if remote_base_url:
        pytest.skip("shortens the server's presence window, which a remote server does not let us do")
    settings.PRESENCE_ONLINE_SECONDS = WINDOW
    settings.LIVE_SAFETY_POLL_SECONDS = 2
    settings.UNREAD_BADGE_POLL_SECONDS = 2


def presence(page):
    return page.get_by_test_id("presence")


def test_online_while_a_tab_is_open_then_last_seen(new_user, short_presence):
    alice, alice_name = new_user("alice")
    bob, bob_name = new_user("bob")
    bob_context = bob.context
    helpers.compose(alice, bob_name, "Are you around?")
    heading = alice.get_by_role("heading", name=f"Conversation with {bob_name}")
    expect(heading).to_be_visible()
    # Bob's tab (where he signed up) is open: Alice's header says so.
    expect(presence(alice)).to_have_text("online", timeout=10_000)

    bob.close()  # his only tab: the stream ends, nothing more is heard from him
    expect(presence(alice)).to_have_text(re.compile(r"^last seen "), timeout=WINDOW * 1000 + 10_000)

    # He opens a tab again, on his inbox: online, and he sees Alice is too.
    bob = bob_context.new_page()
    bob.goto("/")
    expect(presence(alice)).to_have_text("online", timeout=10_000)
    conversations = bob.get_by_role("region", name="Conversations")
    expect(conversations.get_by_test_id("conversation").first).to_contain_text(alice_name)
    expect(conversations.get_by_test_id("presence").first).to_have_text("online")

    bob.close()
    expect(presence(alice)).to_have_text(re.compile(r"^last seen "), timeout=WINDOW * 1000 + 10_000)


def test_the_switch_hides_presence_and_a_display_name_shows(new_user, short_presence):
    alice, alice_name = new_user("alice")
    bob, bob_name = new_user("bob")
    helpers.compose(alice, bob_name, "Hello")
    expect(presence(alice)).to_have_text("online", timeout=10_000)

    bob.goto("/settings/")
    bob.get_by_label("Display name").fill("Bob the Builder")
    bob.get_by_label("Show when I'm online").uncheck()
    bob.get_by_role("button", name="Save profile").click()
    expect(bob.get_by_role("status").filter(has_text="Your profile was saved")).to_be_visible()
    expect(bob.get_by_label("Show when I'm online")).not_to_be_checked()

    # Alice's header forgets his presence by itself; his name comes with the next page.
    expect(presence(alice)).to_have_count(0, timeout=10_000)
    alice.reload()
    expect(alice.get_by_role("heading", name=f"Conversation with Bob the Builder @{bob_name}")).to_be_visible()
    expect(presence(alice)).to_have_count(0)
