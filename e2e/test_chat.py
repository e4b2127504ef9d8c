"""A conversation that behaves like a chat: where it opens, what arrives, failures said in
words, drafts kept, focus and keys, readable text, deleting, and pages without JavaScript."""

import re

from playwright.sync_api import expect

from . import helpers


def fill_conversation(sender, text_prefix, count):
    for n in range(count):
        helpers.send_in_conversation(sender, f"{text_prefix} {n}")
        expect(helpers.message(sender, f"{text_prefix} {n}")).to_be_visible()


def in_viewport(page, locator) -> bool:
    return locator.evaluate(
        "el => { const r = el.getBoundingClientRect(); return r.top < window.innerHeight && r.bottom > 0; }"
    )


def test_a_conversation_opens_at_the_newest_with_new_messages_marked(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "hello there")
    fill_conversation(alice, "old", 12)
    bob.goto("/")  # Bob reads them all: they are no longer new
    helpers.open_conversation(bob, alice_name)
    bob.goto("/")
    for n in range(3):
        helpers.send_in_conversation(alice, f"new {n}")
    expect(helpers.message(alice, "new 2")).to_be_visible()
    for width in (1280, 375):
        bob.set_viewport_size({"width": width, "height": 700})
        bob.goto("/")
        if width == 1280:
            bob.get_by_role("region", name="Conversations").get_by_role("link", name=re.compile(alice_name)).click()
            # "New messages" sits right above the first unread one, and is in view.
            divider = bob.get_by_role("separator", name="New messages")
            expect(divider).to_be_visible()
            assert in_viewport(bob, divider)
            following = bob.locator("#new + article")
            expect(following).to_contain_text("new 0")
        else:
            helpers.open_conversation(bob, alice_name)
            expect(bob.get_by_role("separator", name="New messages")).to_have_count(0)  # read now
            # On a phone too: the newest message and the box are in view.
            expect(helpers.message(bob, "new 2")).to_be_in_viewport()
            expect(bob.get_by_label("Message", exact=True)).to_be_in_viewport()


def test_an_arrival_scrolls_into_view_only_at_the_bottom(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "hello there")
    fill_conversation(alice, "start", 15)
    bob.set_viewport_size({"width": 1280, "height": 600})
    helpers.open_conversation(bob, alice_name)
    expect(bob.locator("body[data-stream='open']")).to_have_count(1, timeout=10_000)
    # At the bottom: an arrival comes into view by itself, no "Jump to newest".
    helpers.send_in_conversation(alice, "seen at once")
    expect(helpers.message(bob, "seen at once")).to_be_in_viewport()
    jump = bob.get_by_role("button", name=re.compile("Jump to newest"))
    expect(jump).to_be_hidden()
    # Scrolled up: the page stays where the reader is, and offers the way down.
    bob.evaluate("window.scrollTo(0, 0)")
    helpers.send_in_conversation(alice, "arrives while reading back")
    expect(jump).to_be_visible()
    expect(helpers.message(bob, "start 0")).to_be_in_viewport()
    jump.click()
    expect(helpers.message(bob, "arrives while reading back")).to_be_in_viewport()
    expect(bob.get_by_label("Message", exact=True)).to_be_focused()
    expect(jump).to_be_hidden()


def test_a_failed_send_keeps_the_text_and_retries(new_user, expect_console_errors):
    expect_console_errors(r"net::ERR_", r"htmx:sendError", r"htmx:afterRequest", r"sse", r"object Event",
                          r"Failed to load resource")  # fmt: skip
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "hello")
    alice.context.set_offline(True)
    box = alice.get_by_label("Message", exact=True)
    box.fill("sent while offline")
    alice.get_by_role("button", name="Send", exact=True).click()
    alert = alice.get_by_role("alert").filter(has_text="Not sent")
    expect(alert).to_contain_text("offline")
    expect(box).to_have_value("sent while offline")
    alice.context.set_offline(False)
    alert.get_by_role("button", name="Retry").click()
    expect(helpers.message(alice, "sent while offline")).to_be_visible()
    expect(box).to_have_value("")
    expect(helpers.message(bob, "sent while offline")).to_be_visible()


def test_a_partner_who_left_is_said_in_words_and_the_draft_stays(new_user, expect_console_errors):
    expect_console_errors(r"status of 404", r"Response Status Error Code 404")
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "are you leaving?")
    box = bob.get_by_label("Message", exact=True)
    box.fill("wait, one more thing")
    alice.goto("/settings/")
    alice.on("dialog", lambda dialog: dialog.accept())
    alice.get_by_label("Your password").fill(helpers.PASSWORD)
    alice.get_by_role("button", name="Delete my account").click()
    expect(alice.get_by_role("heading", name="Your account is deleted")).to_be_visible()
    bob.get_by_role("button", name="Send", exact=True).click()
    notice = bob.get_by_role("alert").filter(has_text="This conversation is gone")
    expect(notice).to_contain_text(f"{alice_name} deleted their account")
    expect(box).to_have_value("wait, one more thing")
    expect(bob.get_by_role("heading", name="Not found")).to_have_count(0)


def test_signed_out_elsewhere_says_so_and_signing_in_comes_back_with_the_draft(new_user, open_session):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "draft test")
    page_url = bob.url.split("#")[0]
    bob.get_by_label("Message", exact=True).fill("half a thought")
    other_tab = bob.context.new_page()
    other_tab.goto("/")
    other_tab.get_by_role("button", name="Log out").click()
    expect(other_tab.get_by_role("heading", name="Log in")).to_be_visible()
    other_tab.close()
    banner = bob.get_by_role("alert").filter(has_text="You were signed out")
    expect(banner).to_be_visible(timeout=30_000)  # the stream ends with the session, or the next poll
    expect(bob.get_by_label("Message", exact=True)).to_have_value("half a thought")
    banner.get_by_role("link", name="Sign in again").click()
    bob.get_by_label("Username").fill(bob_name)
    bob.get_by_label("Password").fill(helpers.PASSWORD)
    bob.get_by_role("button", name="Log in").click()
    expect(bob).to_have_url(re.compile(re.escape(page_url)))  # the page, never a fragment's URL
    expect(bob.get_by_label("Message", exact=True)).to_have_value("half a thought")
    # Drafts are per conversation and survive going elsewhere and back.
    bob.goto("/")
    helpers.open_conversation(bob, alice_name)
    expect(bob.get_by_label("Message", exact=True)).to_have_value("half a thought")


def test_the_same_keys_in_every_box(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "keys")
    box = alice.get_by_label("Message", exact=True)
    expect(alice.get_by_text("Enter sends · Shift+Enter for a new line")).to_be_visible()
    box.click()
    alice.keyboard.type("line one")
    alice.keyboard.press("Shift+Enter")
    alice.keyboard.type("line two")
    alice.keyboard.press("Enter")
    expect(helpers.message(alice, "line two")).to_be_visible()
    box.fill("with control")
    box.press("Control+Enter")
    expect(helpers.message(alice, "with control")).to_be_visible()
    # A reply box: Enter sends there too; Escape cancels.
    helpers.message_exactly(alice, "keys").get_by_role("link", name="Reply to this message").click()
    reply = alice.get_by_label("Your reply")
    expect(reply).to_be_focused()
    reply.type("a quick answer")
    reply.press("Enter")
    expect(reply).to_have_count(0)
    expect(helpers.message_exactly(alice, "a quick answer")).to_be_visible()
    # An edit box opens sized to its text, with the cursor at the end.
    long_text = "\n".join(f"line {n}" for n in range(12))
    box.fill(long_text)
    box.press("Enter")
    edited = helpers.message(alice, "line 11")
    expect(edited).to_be_visible()
    edited.get_by_role("link", name="Edit this message").click()
    edit = alice.get_by_label("Edit message")
    expect(edit).to_be_focused()
    assert edit.evaluate("box => box.scrollHeight <= box.clientHeight + 2"), "the edit box shows all twelve lines"
    assert edit.evaluate("box => box.selectionStart === box.value.length")
    alice.keyboard.press("Escape")
    expect(edit).to_have_count(0)


def test_to_suggestions_answer_the_arrow_keys(new_user):
    alice, _ = new_user("alice")
    _, bob_name = new_user("bobby")
    alice.goto("/compose/")
    to = alice.get_by_label("To", exact=True)
    to.press_sequentially(bob_name[:6])
    suggestion = alice.get_by_role("button", name=bob_name, exact=True)
    expect(suggestion).to_be_visible()
    to.press("ArrowDown")
    expect(suggestion).to_be_focused()
    alice.keyboard.press("Enter")
    expect(to).to_have_value(bob_name)
    expect(alice.get_by_label("Message", exact=True)).to_be_focused()


def test_focus_lands_where_the_keyboard_expects(new_user, expect_console_errors):
    expect_console_errors(r"status of 422")  # the empty message sent on purpose below
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "focus")
    item = helpers.message_exactly(alice, "focus")
    # Edit, then save: the keyboard is back on the message's Edit link, not at the top.
    item.get_by_role("link", name="Edit this message").click()
    alice.get_by_label("Edit message").fill("focus, edited")
    alice.get_by_role("button", name="Save").click()
    edited = helpers.message_exactly(alice, "focus, edited")
    expect(edited.get_by_role("link", name="Edit this message")).to_be_focused()
    # A reply sent: back on Reply.
    edited.get_by_role("link", name="Reply to this message").click()
    alice.get_by_label("Your reply").fill("to myself")
    alice.get_by_role("button", name="Send reply").click()
    expect(edited.get_by_role("link", name="Reply to this message")).to_be_focused()
    # An error: on the field that needs it.
    box = alice.get_by_label("Message", exact=True)
    box.fill("x" * 10)
    box.evaluate("box => box.value = ' '")
    alice.get_by_role("button", name="Send", exact=True).click()
    expect(alice.get_by_text("A message can't be empty.")).to_be_visible()
    expect(alice.get_by_label("Message", exact=True)).to_be_focused()
    # The history drawer gives the keyboard back to what opened it.
    edited.get_by_role("link", name="Edited: see earlier versions").click()
    drawer = alice.get_by_role("dialog", name="Edit history")
    expect(drawer).to_be_visible()
    drawer.get_by_role("button", name="Close").click()
    expect(edited.get_by_role("link", name="Edited: see earlier versions")).to_be_focused()
    # The focus ring is solid and at least 3:1 against the bubble behind it.
    link = edited.get_by_role("link", name="Reply to this message")
    link.focus()
    ratio = link.evaluate(
        """el => {
            const lum = c => { const [r, g, b] = c.match(/\\d+(\\.\\d+)?/g).map(Number).map(v => v / 255)
              .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
            const ring = getComputedStyle(el).outlineColor;
            let bg = el; while (bg && getComputedStyle(bg).backgroundColor === "rgba(0, 0, 0, 0)") bg = bg.parentElement;
            const [a, b] = [lum(ring), lum(getComputedStyle(bg).backgroundColor)].sort((x, y) => y - x);
            return (a + 0.05) / (b + 0.05);
        }"""
    )
    assert ratio >= 3, ratio


def test_messages_read_well(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "see https://example.org/page?a=1 please")
    # Links are links, marked as user content.
    link = helpers.message(bob, "please").get_by_role("link", name="https://example.org/page?a=1")
    expect(link).to_have_attribute("rel", "noopener nofollow ugc")
    # Two quick messages of one person read as one group: one name for both.
    helpers.send_in_conversation(alice, "second in a row")
    expect(helpers.message(bob, "second in a row")).to_be_visible()
    bob.reload()
    grouped = helpers.message_exactly(bob, "second in a row")
    expect(grouped).to_have_class(re.compile(r"\bgrouped\b"))
    # Days are marked, and times carry their zone in the tooltip.
    expect(bob.get_by_test_id("day-divider").first).to_have_text("Today")
    time = grouped.locator("time")
    expect(time).to_have_attribute("title", re.compile(r"\d{4}, \d\d:\d\d \S+$"))
    # A very long word and a long name wrap instead of widening the page, on a phone too.
    helpers.send_in_conversation(alice, "x" * 400)
    for width in (375, 1280):
        bob.set_viewport_size({"width": width, "height": 800})
        bob.reload()
        overflow = bob.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"


def test_relative_times_stay_fresh(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "time flies")
    bob.clock.install()
    bob.goto("/")
    when = bob.get_by_role("region", name="Conversations").locator("time").first
    expect(when).to_contain_text(re.compile(r"now|second|minute"))
    bob.clock.fast_forward("02:10:00")
    expect(when).to_have_text(re.compile(r"2 hours ago"))


def test_deleting_a_message_goes_for_both(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "a mistake")
    helpers.send_in_conversation(alice, "keep this one")
    helpers.reply_to(bob, helpers.message_exactly(bob, "keep this one"), "an answer")
    expect(helpers.unread_badge(alice)).to_have_accessible_name(re.compile(r"Inbox"))
    # Without replies it just goes, after the confirm dialog.
    alice.once("dialog", lambda dialog: dialog.accept())
    helpers.message_exactly(alice, "a mistake").get_by_role("link", name="Delete this message").click()
    expect(helpers.message(alice, "a mistake")).to_have_count(0)
    expect(helpers.message(bob, "a mistake")).to_have_count(0)
    # With replies it leaves a placeholder, so the thread still reads.
    alice.once("dialog", lambda dialog: dialog.accept())
    helpers.message_exactly(alice, "keep this one").get_by_role("link", name="Delete this message").click()
    expect(alice.get_by_test_id("message-deleted")).to_have_count(1)
    expect(bob.get_by_test_id("message-deleted")).to_have_count(1)
    expect(helpers.message(bob, "keep this one")).to_have_count(0)
    expect(helpers.message_exactly(bob, "an answer")).to_contain_text("a deleted message")
    # A dismissed dialog deletes nothing.
    alice.once("dialog", lambda dialog: dialog.dismiss())
    helpers.message_exactly(alice, "an answer").get_by_role("link", name="Reply to this message")  # still there
    expect(helpers.message_exactly(alice, "an answer")).to_be_visible()


def test_without_javascript_the_menu_opens_and_deleting_asks_first(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "plain delete", javascript=False,
                                                                  width=375)  # fmt: skip
    for name in ("New message", "Notifications", "Settings"):
        expect(alice.get_by_role("link", name=re.compile(rf"^{name}"))).to_be_visible()
    expect(alice.get_by_role("button", name="Log out")).to_be_visible()
    expect(alice.get_by_text("Enter sends")).to_be_hidden()  # not true without JavaScript
    helpers.message_exactly(alice, "plain delete").get_by_role("link", name="Delete this message").click()
    expect(alice.get_by_role("heading", name="Delete this message?")).to_be_visible()
    alice.get_by_role("button", name="Delete message").click()
    expect(helpers.message(alice, "plain delete")).to_have_count(0)
    bob.reload()
    expect(helpers.message(bob, "plain delete")).to_have_count(0)


def test_notifications_and_the_badge_agree(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "one")
    bob.goto("/")
    helpers.send_in_conversation(alice, "two")
    helpers.send_in_conversation(alice, "three")
    notifications = bob.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(notifications).to_have_accessible_name("Notifications, 2 unread")
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox, 2 unread")
    notifications.click()
    bob.get_by_role("button", name="Mark all read").click()
    expect(helpers.unread_badge(bob)).to_have_accessible_name("Inbox")
    expect(notifications).to_have_accessible_name("Notifications")


def test_the_history_reads_without_colour(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "to a say")
    helpers.edit_message(alice, helpers.message_exactly(alice, "to a say"), "to second say")
    helpers.message_exactly(alice, "to second say").get_by_role("link", name="Edited: see earlier versions").click()
    current = alice.get_by_role("dialog", name="Edit history").get_by_test_id("history-version").first
    removed, added = current.get_by_role("deletion"), current.get_by_role("insertion")
    expect(removed).to_have_text("a")
    expect(added).to_have_text("second")
    assert "line-through" in removed.evaluate("el => getComputedStyle(el).textDecorationLine")
    assert "underline" in added.evaluate("el => getComputedStyle(el).textDecorationLine")
    gap = added.evaluate("el => el.getBoundingClientRect().left") - removed.evaluate("el => el.getBoundingClientRect().right")
    assert gap >= 3, f"removed and added words run together ({gap:.1f}px apart)"
