"""The whole product with JavaScript off: plain links and form POSTs with redirects, two people.

Nothing here may depend on htmx: every step is a page load the server renders.
"""

import re

from playwright.sync_api import Page, expect

from . import helpers

UNREAD_PAGE_SIZE = 20  # the inbox's unread list; one more message makes a "Load more unread" link


def unread_list(page: Page):
    return page.get_by_role("region", name="Unread")


def post_in_conversation(page: Page, texts: list[str]) -> None:
    """What the send form does without JavaScript (a POST answered by a redirect), minus the page render."""
    url = page.url.split("#")[0]
    form = page.locator("form").filter(has=page.get_by_label("Message", exact=True))
    token = form.locator("[name=csrfmiddlewaretoken]").get_attribute("value")
    for text in texts:
        response = page.request.post(url, form={"content": text, "csrfmiddlewaretoken": token}, max_redirects=0)
        assert response.status == 302, f"sending {text!r} answered {response.status}"


def test_two_people_message_each_other_without_javascript(new_user, expect_console_errors):
    expect_console_errors(r"status of 422", r"status of 404")
    alice, alice_name = new_user("alice", javascript=False)
    bob, bob_name = new_user("bob", javascript=False)

    # Alice writes: a plain POST to /compose/, redirected to the conversation.
    helpers.compose(alice, bob_name, "Hi Bob, no scripts here.", pick_from_search=False)
    expect(alice).to_have_url(re.compile(r"/conversations/\d+/#message-\d+$"))
    conversation_url = alice.url.split("#")[0]
    expect(helpers.message(alice, "Hi Bob, no scripts here.").get_by_text("Seen")).to_have_count(0)

    # Bob sees the badge and the unread message on a page load.
    bob.goto("/")
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox, 1 unread")
    expect(helpers.unread_badge(bob).get_by_test_id("unread-count")).to_have_text("1")
    expect(bob).to_have_title("(1) Inbox · Messages")
    unread = unread_list(bob).get_by_test_id("unread-message")
    expect(unread).to_have_count(1)
    expect(unread).to_contain_text(alice_name)
    expect(unread).to_contain_text("Hi Bob, no scripts here.")

    # Opening the conversation marks it read; the badge on that very page is back to zero.
    helpers.open_conversation(bob, alice_name)
    expect(helpers.message(bob, "Hi Bob, no scripts here.")).to_be_visible()
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox")

    # Alice reloads and sees "Seen".
    alice.reload()
    expect(helpers.message(alice, "Hi Bob, no scripts here.").get_by_text("Seen")).to_be_visible()

    # Bob answers in the conversation; the page comes back with his message and an empty box.
    helpers.send_in_conversation(bob, "Works fine without them.")
    expect(bob).to_have_url(re.compile(rf"^{re.escape(conversation_url)}#message-\d+$"))
    expect(helpers.message(bob, "Works fine without them.")).to_be_visible()
    expect(bob.get_by_label("Message", exact=True)).to_have_value("")
    alice.reload()
    expect(helpers.message(alice, "Works fine without them.")).to_be_visible()

    # Alice sends enough for the unread list to need a second page.
    post_in_conversation(alice, [f"Update #{number:02d}" for number in range(1, UNREAD_PAGE_SIZE + 2)])
    alice.reload()
    expect(helpers.message(alice, "Update #21")).to_be_visible()

    # "Load more unread" is a plain link to the next page.
    bob.goto("/")
    expect(helpers.unread_badge(bob)).to_have_accessible_name(f"Inbox, {UNREAD_PAGE_SIZE + 1} unread")
    expect(unread_list(bob).get_by_test_id("unread-message")).to_have_count(UNREAD_PAGE_SIZE)
    expect(unread_list(bob)).to_contain_text("Update #21")
    expect(unread_list(bob)).not_to_contain_text("Update #01")
    more = unread_list(bob).get_by_role("link", name="Load more unread")
    expect(more).to_have_attribute("href", re.compile(r"^\?unread_after="))
    more.click()
    expect(bob).to_have_url(re.compile(r"/\?unread_after="))
    expect(unread_list(bob).get_by_test_id("unread-message")).to_have_count(1)
    expect(unread_list(bob)).to_contain_text("Update #01")
    expect(unread_list(bob).get_by_role("link", name="Load more unread")).to_have_count(0)

    # Notifications: "Mark read" and "Mark all read" are forms that POST and come back to the list.
    bob.goto("/notifications/")
    mark_one = bob.get_by_role("button", name=f"Mark notification from {alice_name} read")
    expect(mark_one).to_have_count(UNREAD_PAGE_SIZE + 1)
    mark_one.first.click()
    expect(bob).to_have_url(re.compile(r"/notifications/$"))
    expect(mark_one).to_have_count(UNREAD_PAGE_SIZE)
    bob.get_by_role("button", name="Mark all read").click()
    expect(bob).to_have_url(re.compile(r"/notifications/$"))
    expect(mark_one).to_have_count(0)
    expect(bob.get_by_test_id("notification").first).to_contain_text(f"New message from {alice_name}")
    # A notification is about a message: marking them read marks the messages read, so the
    # badge and the Notifications link agree.
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox")
    expect(bob.get_by_role("link", name=re.compile(r"^Notifications"))).to_have_accessible_name("Notifications")

    # A compose error comes back as a full page that keeps what Bob typed.
    bob.goto("/compose/")
    bob.get_by_label("To", exact=True).fill("nobody-by-that-name")
    bob.get_by_label("Message", exact=True).fill("words I typed\nover two lines")
    bob.get_by_role("button", name="Send").click()
    expect(bob.get_by_text("There is no user called “nobody-by-that-name”.")).to_be_visible()
    expect(bob.get_by_label("To", exact=True)).to_have_value("nobody-by-that-name")
    expect(bob.get_by_label("Message", exact=True)).to_have_value("words I typed\nover two lines")

    # Alice deletes her account from the settings page: the password is checked, then it is gone.
    alice.goto("/settings/")
    alice.get_by_label("Your password").fill("not my password")
    alice.get_by_role("button", name="Delete my account").click()
    expect(alice.get_by_text("That password is not right.")).to_be_visible()
    alice.get_by_label("Your password").fill(helpers.PASSWORD)
    alice.get_by_role("button", name="Delete my account").click()
    expect(alice).to_have_url(re.compile(r"/goodbye/$"))
    expect(alice.get_by_role("heading", name="Your account is deleted")).to_be_visible()

    # Bob no longer sees her conversation, her messages or the notifications about them.
    bob.goto("/")
    expect(bob.get_by_role("region", name="Conversations")).not_to_contain_text(alice_name)
    expect(bob.get_by_role("region", name="Conversations")).to_contain_text("No conversations yet.")
    expect(unread_list(bob)).to_contain_text("You're all caught up.")
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox")
    assert bob.goto(conversation_url).status == 404
    expect(bob.get_by_text("Hi Bob, no scripts here.")).to_have_count(0)
    bob.goto("/notifications/")
    expect(bob.get_by_test_id("notification")).to_have_count(0)
    expect(bob.get_by_text("No notifications.")).to_be_visible()
