"""Inline editing: edit in place, Escape and Cancel, conflicts, errors, the edit-history drawer, no JavaScript."""

import re

from playwright.sync_api import expect

from . import helpers

WHEN = re.compile(r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2}")


def history_link(item):
    return item.get_by_role("link", name="Edited: see earlier versions")


def versions(scope):
    return scope.get_by_role("list", name="Versions, newest first").get_by_role("listitem")


def version_texts(listed) -> list[str]:
    """What each listed version said: its text without the words it removed (shown struck through)."""
    return listed.evaluate_all(
        """items => items.map(item => {
            const text = item.querySelector(".version-text").cloneNode(true);
            text.querySelectorAll("del").forEach(removed => removed.remove());
            return text.textContent.trim();
        })"""
    )


def test_edit_twice_then_the_drawer_lists_the_earlier_versions(new_user, expect_console_errors):
    expect_console_errors(r"status of 404")
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "See you at six")
    conversation_url = alice.url.split("#")[0]
    expect(history_link(helpers.message_exactly(alice, "See you at six"))).to_have_count(0)

    helpers.edit_message(alice, helpers.message_exactly(alice, "See you at six"), "See you at seven")
    edited = helpers.message_exactly(alice, "See you at seven")
    expect(history_link(edited)).to_be_visible()
    expect(alice).to_have_url(re.compile(re.escape(conversation_url)))  # in place, no navigation
    helpers.edit_message(alice, edited, "See you at seven thirty")
    edited = helpers.message_exactly(alice, "See you at seven thirty")
    expect(helpers.message(alice, "See you at seven")).to_have_count(1)  # replaced, not added

    history_link(edited).click()
    drawer = alice.get_by_role("dialog", name="Edit history")
    expect(drawer).to_be_visible()
    expect(alice).to_have_url(re.compile(re.escape(conversation_url)))  # a drawer over the conversation
    listed = versions(drawer)
    expect(listed).to_have_count(3)
    # Newest first: the current text, then both earlier versions, each with its time.
    assert version_texts(listed) == ["See you at seven thirty", "See you at seven", "See you at six"]
    expect(listed.nth(0)).to_contain_text("Current version")
    expect(listed.nth(1)).to_contain_text("Earlier version")
    expect(listed.nth(2)).to_contain_text("Earlier version")
    for index in range(3):
        expect(listed.nth(index)).to_contain_text(WHEN)
    # Each version marks the words it changed from the one before it.
    expect(listed.nth(0).get_by_role("insertion")).to_have_text(["thirty"])
    expect(listed.nth(0).get_by_role("deletion")).to_have_count(0)
    expect(listed.nth(1).get_by_role("deletion")).to_have_text(["six"])
    expect(listed.nth(1).get_by_role("insertion")).to_have_text(["seven"])
    expect(listed.nth(2).get_by_role("insertion")).to_have_count(0)
    drawer.get_by_role("button", name="Close").click()
    expect(drawer).to_be_hidden()

    # The receiver gets the edit with its mark (by the conversation poll) and can open the same history.
    edited_for_bob = helpers.message_exactly(bob, "See you at seven thirty")
    expect(history_link(edited_for_bob)).to_be_visible(timeout=10_000)
    expect(edited_for_bob.get_by_role("link", name="Edit this message")).to_have_count(0)
    history_link(edited_for_bob).click()
    drawer = bob.get_by_role("dialog", name="Edit history")
    expect(versions(drawer)).to_have_count(3)
    assert version_texts(versions(drawer)) == ["See you at seven thirty", "See you at seven", "See you at six"]

    # Nobody else can.
    history_url = history_link(edited).get_attribute("href")
    carol, _ = new_user("carol")
    assert carol.goto(history_url).status == 404
    expect(carol.get_by_text("See you at")).to_have_count(0)


def test_escape_and_cancel_restore_the_message_untouched(new_user):
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "Keep me as I am")
    original = helpers.message_exactly(alice, "Keep me as I am")

    # The box has the keyboard as soon as it opens: type, then Escape, without touching the mouse.
    original.get_by_role("link", name="Edit this message").click()
    box = alice.get_by_label("Edit message")
    expect(box).to_be_focused()
    expect(box).to_have_value("Keep me as I am")
    alice.keyboard.press("ControlOrMeta+a")
    alice.keyboard.type("Something else entirely")
    expect(box).to_have_value("Something else entirely")
    alice.keyboard.press("Escape")
    expect(box).to_have_count(0)
    expect(original).to_be_visible()
    expect(history_link(original)).to_have_count(0)
    expect(alice.get_by_text("Something else entirely")).to_have_count(0)

    original.get_by_role("link", name="Edit this message").click()
    alice.get_by_label("Edit message").fill("Not this either")
    alice.get_by_role("link", name="Cancel").click()
    expect(alice.get_by_label("Edit message")).to_have_count(0)
    expect(original).to_be_visible()
    expect(history_link(original)).to_have_count(0)

    # Nothing reached the server.
    alice.reload()
    expect(helpers.message_exactly(alice, "Keep me as I am")).to_be_visible()
    expect(history_link(helpers.message_exactly(alice, "Keep me as I am"))).to_have_count(0)


def test_the_receiver_has_no_edit_button(new_user, expect_console_errors):
    expect_console_errors(r"status of 404")
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "Only I can change this")
    edit_url = helpers.message_exactly(alice, "Only I can change this").get_by_role(
        "link", name="Edit this message"
    ).get_attribute("href")

    theirs = helpers.message_exactly(bob, "Only I can change this")
    expect(theirs).to_be_visible()
    expect(theirs.get_by_role("link", name="Reply to this message")).to_be_visible()
    expect(theirs.get_by_role("link", name="Edit this message")).to_have_count(0)
    helpers.reply_to(bob, theirs, "But I can change my reply")
    mine = helpers.message_exactly(bob, "But I can change my reply")
    expect(mine.get_by_role("link", name="Edit this message")).to_be_visible()

    # A forged edit, as a page and as a form post, is a 404 and changes nothing.
    assert bob.goto(edit_url).status == 404
    helpers.open_conversation(bob, alice_name)
    token = bob.evaluate("() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
    forged = bob.request.post(
        edit_url, form={"content": "Forged by Bob"}, headers={"X-CSRFToken": token, "HX-Request": "true"}
    )
    assert forged.status == 404
    bob.reload()
    expect(helpers.message_exactly(bob, "Only I can change this")).to_be_visible()
    expect(bob.get_by_text("Forged by Bob")).to_have_count(0)
    expect(history_link(helpers.message_exactly(bob, "Only I can change this"))).to_have_count(0)


def test_edit_errors_are_inline_and_keep_the_text(new_user, expect_console_errors):
    expect_console_errors(r"status of 422")
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "A fine message")
    helpers.message_exactly(alice, "A fine message").get_by_role("link", name="Edit this message").click()
    box = alice.get_by_label("Edit message")

    box.fill("   ")
    alice.get_by_role("button", name="Save").click()
    expect(alice.get_by_text("A message can't be empty.")).to_be_visible()
    expect(alice.get_by_label("Edit message")).to_be_focused()

    long_text = "y" * 5001
    alice.get_by_label("Edit message").evaluate(
        "(box, text) => { box.removeAttribute('maxlength'); box.value = text }", long_text
    )
    alice.get_by_role("button", name="Save").click()
    expect(alice.get_by_text(re.compile("at most 5,000 characters"))).to_be_visible()
    expect(alice.get_by_label("Edit message")).to_have_value(long_text)

    # Still editable in place; the stored text never changed.
    alice.get_by_label("Edit message").fill("A finer message")
    alice.get_by_role("button", name="Save").click()
    expect(history_link(helpers.message_exactly(alice, "A finer message"))).to_be_visible()
    alice.reload()
    expect(helpers.message_exactly(alice, "A finer message")).to_be_visible()
    history_link(helpers.message_exactly(alice, "A finer message")).click()
    expect(versions(alice.get_by_role("dialog", name="Edit history"))).to_have_count(2)


def test_saving_over_a_newer_version_shows_it_and_asks_again(new_user, open_session, expect_console_errors):
    expect_console_errors(r"status of 422")  # the conflict answers 422
    laptop, alice_name, bob, bob_name = helpers.start_conversation(new_user, "Draft from the morning")
    phone = open_session()
    helpers.log_in(phone, alice_name)
    helpers.open_conversation(phone, bob_name)

    helpers.message_exactly(laptop, "Draft from the morning").get_by_role("link", name="Edit this message").click()
    laptop.get_by_label("Edit message").fill("Written on the laptop")
    shown = laptop.locator("#conversation-version").get_attribute("value")

    helpers.edit_message(phone, helpers.message_exactly(phone, "Draft from the morning"), "Written on the phone")
    expect(helpers.message_exactly(phone, "Written on the phone")).to_be_visible()
    # The laptop's page catches up on the change; the open form keeps what was typed.
    expect(laptop.locator("#conversation-version")).not_to_have_value(shown)
    expect(laptop.get_by_label("Edit message")).to_have_value("Written on the laptop")

    laptop.get_by_role("button", name="Save").click()
    alert = laptop.get_by_role("alert").filter(has_text="Changed elsewhere")
    expect(alert).to_contain_text("Written on the phone")
    expect(laptop.get_by_label("Edit message")).to_have_value("Written on the laptop")
    expect(laptop.get_by_text(re.compile("changed elsewhere while you were editing"))).to_be_visible()

    laptop.get_by_role("button", name="Save").click()
    saved = helpers.message_exactly(laptop, "Written on the laptop")
    expect(saved).to_be_visible()
    history_link(saved).click()
    listed = versions(laptop.get_by_role("dialog", name="Edit history"))
    expect(listed).to_have_count(3)
    assert version_texts(listed) == ["Written on the laptop", "Written on the phone", "Draft from the morning"]


def test_edit_and_history_without_javascript(new_user, expect_console_errors):
    expect_console_errors(r"status of 422")
    alice, alice_name, bob, bob_name = helpers.start_conversation(new_user, "Plain old HTML", javascript=False)
    conversation_url = alice.url.split("#")[0]

    # Edit opens the edit page; an error stays on it with the text kept.
    helpers.message_exactly(alice, "Plain old HTML").get_by_role("link", name="Edit this message").click()
    expect(alice.get_by_role("heading", name="Edit your message", level=1)).to_be_visible()
    alice.get_by_label("Edit message").fill("   ")
    alice.get_by_role("button", name="Save").click()
    expect(alice.get_by_text("A message can't be empty.")).to_be_visible()
    expect(alice.get_by_role("heading", name="Edit your message", level=1)).to_be_visible()

    # Cancel goes back untouched; Save goes back with the edit and its mark.
    alice.get_by_role("link", name="Cancel").click()
    expect(alice).to_have_url(re.compile(re.escape(conversation_url)))
    expect(history_link(helpers.message_exactly(alice, "Plain old HTML"))).to_have_count(0)
    helpers.edit_message(alice, helpers.message_exactly(alice, "Plain old HTML"), "Plain new HTML")
    expect(alice).to_have_url(re.compile(re.escape(conversation_url)))
    helpers.edit_message(alice, helpers.message_exactly(alice, "Plain new HTML"), "Plain newer HTML")

    # The mark opens the history page, for the receiver too.
    bob.reload()
    history_link(helpers.message_exactly(bob, "Plain newer HTML")).click()
    expect(bob.get_by_role("heading", name="Edit history", level=1)).to_be_visible()
    expect(versions(bob)).to_have_count(3)
    assert version_texts(versions(bob)) == ["Plain newer HTML", "Plain new HTML", "Plain old HTML"]
    expect(versions(bob).nth(1).get_by_role("insertion")).to_have_text(["new"])
    bob.get_by_role("link", name="Back to the conversation").click()
    expect(bob.get_by_role("heading", name=f"Conversation with {alice_name}")).to_be_visible()
