"""Every page passes axe-core (no serious or critical violation) in light and in dark mode.

The pages hold real data (seed_demo: a deep reply thread, an edited message, unread
messages), and the interactive states htmx produces (a thread expanded in place, the
edit-history drawer, inline errors) are checked too. Keyboard focus must be visible.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from . import helpers

AXE = Axe()
BLOCKING = {"serious", "critical"}
DEMO_PASSWORD = "demo-pass-2024"


def blocking_violations(page: Page, name: str) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line per rule."""
    found = []
    for violation in AXE.run(page).response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        targets = " | ".join(describe_node(node) for node in violation["nodes"][:6])
        found.append(f"{name}: {violation['id']} ({violation['impact']}) x{len(violation['nodes'])}: {targets}")
    return found


def describe_node(node: dict) -> str:
    target = ", ".join(map(str, node["target"]))
    data = next((check.get("data") for check in node["any"] if isinstance(check.get("data"), dict)), None)
    if data and "contrastRatio" in data:  # color-contrast: say which colours, so the fix is obvious
        target += f" ({data['fgColor']} on {data['bgColor']} = {data['contrastRatio']}:1)"
    return target


def href(locator) -> str:
    return locator.first.get_attribute("href")


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_every_page_passes_axe(open_session, demo_data, mode, expect_console_errors):
    expect_console_errors(r"status of 422", r"status of 404")
    problems: list[str] = []
    checked: list[str] = []

    def check(page: Page, name: str) -> None:
        # The colour mode really applied (theme.js follows the system setting), or the check means nothing.
        expect(page.locator("html")).to_have_attribute("data-bs-theme", mode)
        checked.append(name)
        problems.extend(blocking_violations(page, f"{name} [{mode}]"))

    page = open_session(color_scheme=mode)

    # Logged out.
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    check(page, "login")
    page.goto("/accounts/signup/")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    check(page, "signup with errors")
    page.goto("/goodbye/")
    expect(page.get_by_role("heading", name="Your account is deleted")).to_be_visible()
    check(page, "goodbye")

    helpers.log_in(page, "alice", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(helpers.unread_badge(page)).to_have_accessible_name(re.compile(r"^Inbox, \d+ unread$"))
    check(page, "inbox")

    page.goto("/compose/")
    check(page, "compose")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Choose who to write to.")).to_be_visible()
    check(page, "compose with errors")

    helpers.open_conversation(page, "bob")
    conversation_url = page.url.split("#")[0]
    check(page, "conversation")
    replies = page.get_by_role("link", name=re.compile(r"^\d+ repl(y|ies)$"))
    thread_url = href(replies)
    replies.first.click()
    expect(page.get_by_test_id("thread-node").first).to_be_visible()
    check(page, "conversation with a thread expanded")
    edited = page.get_by_role("link", name="Edited: see earlier versions")
    history_url = href(edited)
    edited.first.click()
    drawer = page.get_by_role("dialog", name="Edit history")
    expect(drawer.get_by_test_id("history-version").first).to_be_visible()
    check(page, "conversation with the history drawer open")
    edit_url = href(page.get_by_role("link", name="Edit this message"))
    reply_url = href(page.get_by_role("link", name="Reply to this message"))

    pages = [
        ("thread", thread_url, "Thread"),
        ("history", history_url, "Edit history"),
        ("edit", edit_url, "Edit your message"),
        ("reply", reply_url, re.compile(r"^Reply to ")),
        ("notifications", "/notifications/", "Notifications"),
        ("search", "/search/?q=the", "Search"),
        ("settings", "/settings/", "Settings"),
        ("password change", "/accounts/password_change/", "Change your password"),
        ("not found", "/conversations/987654321/", "Not found"),
    ]
    for name, url, heading in pages:
        page.goto(url)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        check(page, name)

    page.goto("/settings/")
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    page.get_by_label("Your password").fill("not the password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("That password is not right.")).to_be_visible()
    check(page, "settings with errors")

    page.goto(conversation_url)
    page.get_by_role("button", name="Log out").click()
    # LOGOUT_REDIRECT_URL sends people back to the login page: that is the logged-out page.
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    check(page, "logged out")

    assert len(checked) == 20
    assert not problems, "axe found serious/critical violations:\n" + "\n".join(problems)


def test_keyboard_focus_is_visible(open_session, demo_data):
    page = open_session()
    helpers.log_in(page, "alice", DEMO_PASSWORD)

    # The first Tab reveals the skip link (following it lands in the main content: checked below).
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    box = skip.bounding_box()
    assert box and box["width"] > 20 and box["height"] > 10, box

    # Every control reached by Tab shows a focus indicator (outline or Bootstrap's box-shadow ring).
    unmarked = []
    for _ in range(12):
        page.keyboard.press("Tab")
        indicator = page.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
                const ring = style.boxShadow && style.boxShadow !== "none";
                const name = el.getAttribute("aria-label") || el.textContent.trim().slice(0, 30);
                return {name, tag: el.tagName, shown: outline || ring};
            }"""
        )
        if not indicator["shown"]:
            unmarked.append(indicator)
    assert not unmarked, f"focused without a visible indicator: {unmarked}"

    page.reload()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()
