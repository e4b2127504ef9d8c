"""Two people talk: badge, live delivery, Seen, notifications, compose errors, XSS, strangers."""

import json
import re

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from . import helpers


def test_two_users_message_each_other_live(new_user):
    alice, alice_name = new_user("alice")
    bob, bob_name = new_user("bob")
    bob.goto("/")
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox")

    helpers.compose(alice, bob_name, "Hi Bob, lunch today?")
    expect(alice.get_by_role("heading", name=f"Conversation with {bob_name}")).to_be_visible()
    expect(helpers.message(alice, "Hi Bob, lunch today?")).to_be_visible()

    # Bob's badge rises within one poll (10 s), without a reload; the title follows.
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox, 1 unread", timeout=15_000)
    expect(bob).to_have_title(re.compile(r"^\(1\) "))

    helpers.open_conversation(bob, alice_name)
    expect(helpers.message(bob, "Hi Bob, lunch today?")).to_be_visible()
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox")

    # Alice sees "Seen" arrive by the conversation poll.
    expect(helpers.message(alice, "Hi Bob, lunch today?").get_by_test_id("seen")).to_be_visible(timeout=10_000)

    # Bob answers in place: the box clears and the message is appended without a reload.
    helpers.send_in_conversation(bob, "Sure, 12:30?")
    expect(helpers.message(bob, "Sure, 12:30?")).to_be_visible()
    expect(bob.get_by_label("Message", exact=True)).to_have_value("")
    # ... and it reaches Alice's open conversation by itself.
    expect(helpers.message(alice, "Sure, 12:30?")).to_be_visible(timeout=10_000)


def test_double_click_sends_once(new_user):
    alice, _ = new_user("alice")
    _, bob_name = new_user("bob")
    helpers.compose(alice, bob_name, "first")
    alice.get_by_label("Message", exact=True).fill("only once please")
    alice.get_by_role("button", name="Send", exact=True).dblclick()
    expect(helpers.message(alice, "only once please")).to_have_count(1)
    alice.reload()
    expect(helpers.message(alice, "only once please")).to_have_count(1)


def test_notification_appears_and_is_marked_read(new_user):
    alice, alice_name = new_user("alice")
    bob, _ = new_user("bob")
    bob_name = bob.get_by_text(re.compile(r"Signed in as")).inner_text().split()[-1]
    helpers.compose(alice, bob_name, "ping one")
    helpers.send_in_conversation(alice, "ping two")
    expect(helpers.message(alice, "ping two")).to_be_visible()

    bob.goto("/notifications/")
    items = bob.get_by_test_id("notification")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text(f"New message from {alice_name}")
    bob.get_by_role("button", name=f"Mark notification from {alice_name} read").first.click()
    expect(bob.get_by_role("button", name=re.compile("^Mark notification"))).to_have_count(1)
    bob.get_by_role("button", name="Mark all read").click()
    expect(bob.get_by_role("button", name=re.compile("^Mark notification"))).to_have_count(0)
    bob.reload()
    expect(bob.get_by_role("button", name=re.compile("^Mark notification"))).to_have_count(0)


def test_compose_errors_are_inline_and_keep_the_text(new_user, expect_console_errors):
    expect_console_errors(r"status of 422")
    alice, _ = new_user("alice")
    _, bob_name = new_user("bob")
    alice.goto("/compose/")

    alice.get_by_label("To", exact=True).fill(bob_name)
    alice.get_by_role("button", name="Send").click()
    expect(alice.get_by_text("A message can't be empty.")).to_be_visible()

    alice.get_by_label("To", exact=True).fill("nobody-by-that-name")
    alice.get_by_label("Message", exact=True).fill("words I typed")
    alice.get_by_role("button", name="Send").click()
    expect(alice.get_by_text("There is no user called “nobody-by-that-name”.")).to_be_visible()
    expect(alice.get_by_label("Message", exact=True)).to_have_value("words I typed")

    long_text = "x" * 5001
    alice.get_by_label("To", exact=True).fill(bob_name)
    alice.get_by_label("Message", exact=True).evaluate("(box, text) => { box.removeAttribute('maxlength'); box.value = text }", long_text)
    alice.get_by_role("button", name="Send").click()
    expect(alice.get_by_text(re.compile("at most 5,000 characters"))).to_be_visible()
    expect(alice.get_by_label("Message", exact=True)).to_have_value(long_text)


XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b id="injected">bold</b>'


def test_markup_in_a_message_shows_as_text(new_user):
    alice, alice_name = new_user("alice")
    bob, _ = new_user("bob")
    bob_name = bob.get_by_text(re.compile(r"Signed in as")).inner_text().split()[-1]
    dialogs = []
    for page in (alice, bob):
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    helpers.compose(alice, bob_name, XSS)
    helpers.open_conversation(bob, alice_name)
    for page in (alice, bob):
        expect(helpers.message(page, "<script>window.__xss=2</script>")).to_be_visible()
        assert page.locator("#injected").count() == 0
        assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_a_third_user_gets_404_on_the_conversation(new_user, expect_console_errors):
    expect_console_errors(r"status of 404")
    alice, _ = new_user("alice")
    _, bob_name = new_user("bob")
    carol, _ = new_user("carol")
    helpers.compose(alice, bob_name, "private")
    expect(helpers.message(alice, "private")).to_be_visible()
    url = alice.url.split("#")[0]

    response = carol.goto(url)
    assert response.status == 404
    expect(carol.get_by_role("heading", name="Not found")).to_be_visible()
    expect(carol.get_by_text("private")).to_have_count(0)


def test_deleting_an_account_removes_it_from_the_other_side(new_user, expect_console_errors):
    expect_console_errors(r"status of 404")
    alice, alice_name = new_user("alice")
    bob, _ = new_user("bob")
    bob_name = bob.get_by_text(re.compile(r"Signed in as")).inner_text().split()[-1]
    helpers.compose(alice, bob_name, "goodbye soon")
    conversation_url = alice.url.split("#")[0]
    bob.goto("/")
    expect(bob.get_by_role("region", name="Conversations")).to_contain_text(alice_name)

    alice.goto("/settings/")
    alice.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    alice.get_by_label("Your password").fill(helpers.PASSWORD)
    alice.get_by_role("button", name="Delete my account").click()
    expect(alice.get_by_role("heading", name="Your account is deleted")).to_be_visible()

    bob.reload()
    expect(bob.get_by_role("region", name="Conversations")).not_to_contain_text(alice_name)
    expect(bob.get_by_test_id("unread-message")).to_have_count(0)
    assert bob.goto(conversation_url).status == 404

    alice.goto("/accounts/login/")
    alice.get_by_label("Username").fill(alice_name)
    alice.get_by_label("Password").fill(helpers.PASSWORD)
    alice.get_by_role("button", name="Log in").click()
    expect(alice.get_by_text("Please enter a correct username and password")).to_be_visible()


def test_wrong_password_does_not_delete(new_user, expect_console_errors):
    expect_console_errors(r"status of 422")
    alice, alice_name = new_user("alice")
    alice.goto("/settings/")
    alice.on("dialog", lambda dialog: dialog.accept())
    alice.get_by_label("Your password").fill("not my password")
    alice.get_by_role("button", name="Delete my account").click()
    expect(alice.get_by_text("That password is not right.")).to_be_visible()
    alice.goto("/")
    expect(alice.get_by_text(f"Signed in as {alice_name}")).to_be_attached()


def poll_badge(page):
    """Poll the badge now, as its timer would, and return the request it sent. A badge just
    swapped in listens once htmx has settled it, so a trigger that came too early is repeated."""
    for _ in range(10):
        try:
            with page.expect_request(re.compile(r"/unread-badge/$"), timeout=1_000) as request:
                page.evaluate("htmx.trigger(document.body, 'unread-changed')")
            return request.value
        except PlaywrightTimeoutError:
            continue
    raise AssertionError("the badge never polled")


def test_badge_poll_renews_a_token_that_no_longer_holds(new_user):
    """The badge poll skips the session with the page's token; an expired (here: broken) one
    is answered through the session, which hands out a new token that the next polls send."""
    alice, alice_name = new_user("alice")
    bob, bob_name = new_user("bob")
    bob.goto("/")
    helpers.compose(alice, bob_name, "Are you there?")
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox, 1 unread")
    bob.evaluate(
        "document.getElementById('badge-token').setAttribute('hx-headers', JSON.stringify({'X-Badge-Token': 'expired'}))"
    )

    assert poll_badge(bob).headers["x-badge-token"] == "expired"
    expect(bob.locator("#badge-token")).not_to_have_attribute("hx-headers", re.compile("expired"))
    renewed = json.loads(bob.locator("#badge-token").get_attribute("hx-headers"))["X-Badge-Token"]
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox, 1 unread")

    assert poll_badge(bob).headers["x-badge-token"] == renewed
    helpers.open_conversation(bob, alice_name)
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox")