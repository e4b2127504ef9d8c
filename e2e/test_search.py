"""Search: Bob looks for an old message from Alice, finds it as he types, and opens the
conversation around it (with and without JavaScript)."""

import re

import pytest
from playwright.sync_api import expect

from . import helpers

OLD_TEXT = "Is the pineapple <b>cake</b> ready?"
LATER = 40  # messages after it: more than a page around it shows


@pytest.fixture
def old_message(new_user, remote_base_url):
    """Alice wrote OLD_TEXT to Bob, then LATER more messages. Returns (bob's page, alice's name)."""

    def make(**session_options):
        if remote_base_url:
            pytest.skip("builds older messages through the ORM")
        from django.contrib.auth import get_user_model

        from messaging import actions

        alice, alice_name = new_user("alice", **session_options)
        bob, bob_name = new_user("bob", **session_options)
        helpers.compose(alice, bob_name, OLD_TEXT, pick_from_search=session_options.get("javascript", True))
        users = get_user_model().objects
        a, b = users.get(username=alice_name), users.get(username=bob_name)
        for n in range(LATER):
            actions.send_message(a if n % 2 else b, to=b if n % 2 else a, content=f"later message {n}")
        return bob, alice_name

    return make


def results(page):
    return page.get_by_role("region", name="Search results")


def test_results_appear_as_you_type_and_open_the_conversation_around_the_message(old_message):
    bob, alice_name = old_message()
    bob.goto("/")
    bob.get_by_role("searchbox", name="Search messages").press_sequentially("pineapp")
    # Whole words: nothing yet, said in words; the next letters find it, with no reload.
    expect(results(bob).get_by_test_id("nothing-found")).to_be_visible()
    bob.get_by_role("searchbox", name="Search messages").press_sequentially("le cake")
    found = results(bob).get_by_role("link", name=re.compile(alice_name))
    expect(found).to_have_count(1)
    expect(found.locator("mark")).to_have_text(["pineapple", "cake"])
    expect(found).to_contain_text(OLD_TEXT)  # the markup stays text
    expect(bob).to_have_url(re.compile(r"/search/\?q=pineapple(\+|%20)cake$"))
    expect(bob.get_by_role("searchbox", name="Search messages")).to_be_focused()

    found.click()
    expect(bob.get_by_role("heading", name=f"Conversation with {alice_name}")).to_be_visible()
    expect(bob).to_have_url(re.compile(r"/conversations/\d+/\?around=\d+#message-\d+$"))
    target = helpers.message(bob, "pineapple")
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\baround-target\b"))
    expect(target).to_be_focused()
    expect(helpers.message(bob, f"later message {LATER - 1}")).to_have_count(0)
    bob.get_by_role("link", name="Load newer messages").click()
    expect(helpers.message(bob, f"later message {LATER - 1}")).to_have_count(1)
    expect(bob.get_by_role("link", name="Load newer messages")).to_have_count(0)

    # Back to the results: the same search, as a page of its own.
    bob.go_back()
    expect(results(bob).get_by_role("link", name=re.compile(alice_name))).to_have_count(1)


def test_search_one_conversation_from_its_header(old_message):
    bob, alice_name = old_message()
    helpers.open_conversation(bob, alice_name)
    box = bob.get_by_role("searchbox", name="Search this conversation")
    box.fill("later 7")
    box.press("Enter")
    expect(bob.get_by_role("heading", name=f"Search your conversation with {alice_name}")).to_be_visible()
    expect(results(bob).get_by_test_id("search-result")).to_have_count(1)
    field = bob.get_by_role("searchbox", name="Search this conversation")
    field.fill("later 3")
    expect(results(bob).get_by_test_id("search-result")).to_have_count(1)
    expect(results(bob).locator("mark")).to_have_text(["later", "3"])


def test_search_without_javascript(old_message):
    bob, alice_name = old_message(javascript=False)
    bob.goto("/")
    box = bob.get_by_role("searchbox", name="Search messages")
    box.fill("pineapple")
    box.press("Enter")
    expect(bob).to_have_url(re.compile(r"/search/\?q=pineapple$"))
    found = results(bob).get_by_role("link", name=re.compile(alice_name))
    expect(found).to_have_count(1)
    found.click()
    expect(bob).to_have_url(re.compile(r"\?around=\d+#message-\d+$"))
    expect(helpers.message(bob, "pineapple")).to_be_visible()
    bob.get_by_role("link", name="Load newer messages").click()
    expect(helpers.message(bob, f"later message {LATER - 1}")).to_be_visible()
