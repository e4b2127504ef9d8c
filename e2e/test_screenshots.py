"""The main pages at phone and desktop width, light and dark: they fit, the badge shows, dark is dark.

Screenshots go to e2e/artifacts/screenshots/<page>-<width>-<mode>.png for people to look at;
`make screenshots` (UPDATE_SCREENSHOTS=1) refreshes the ones in docs/screenshots that the README shows.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from . import helpers

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") else "e2e/artifacts") / "screenshots"
DEMO_PASSWORD = "demo-pass-2024"


def background_luminance(page: Page) -> float:
    """Relative luminance (0 black .. 1 white) of the page background as the browser paints it."""
    return page.evaluate(
        """() => {
            const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+(\\.\\d+)?/g).map(Number);
            const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
            return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
        }"""
    )


def assert_renders_well(page: Page, *, width: int, mode: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-bs-theme", mode)
    luminance = background_luminance(page)
    dark_enough = luminance < 0.05 if mode == "dark" else luminance > 0.8
    assert dark_enough, f"{mode} page has background luminance {luminance:.2f}"
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px at {width}px"
    badge = helpers.unread_badge(page)
    expect(badge).to_be_in_viewport()
    expect(badge.get_by_test_id("unread-count")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Switch to (light|dark) mode$"))).to_be_in_viewport()


def shoot(page: Page, name: str, *, width: int, mode: str) -> None:
    assert_renders_well(page, width=width, mode=mode)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-{width}-{mode}.png", full_page=True, animations="disabled")


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1280])
def test_main_pages_fit_and_follow_the_colour_mode(open_session, demo_data, width, mode):
    page = open_session(width=width, height=800, color_scheme=mode)
    helpers.log_in(page, "alice", DEMO_PASSWORD)

    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_test_id("conversation").first).to_be_visible()
    shoot(page, "inbox", width=width, mode=mode)

    helpers.open_conversation(page, "bob")
    page.get_by_role("link", name=re.compile(r"^\d+ (direct )?replies$")).first.click()
    expect(page.get_by_test_id("thread-node").filter(has_text="sandwiches this time")).to_be_visible()
    edited = helpers.message(page, "early train is cancelled")
    expect(edited.get_by_role("link", name="Edited: see earlier versions")).to_be_visible()
    # Message bubbles stay inside the screen, even the deepest reply of the thread.
    rights = page.locator(".message, .thread-node").evaluate_all("els => els.map(e => e.getBoundingClientRect().right)")
    for right in rights:
        assert right <= width, f"a message ends at {right}px on a {width}px screen"
    shoot(page, "conversation", width=width, mode=mode)

    page.goto("/compose/")
    expect(page.get_by_label("To", exact=True)).to_be_visible()
    shoot(page, "compose", width=width, mode=mode)

    page.goto("/search/?q=train")
    expect(page.get_by_role("link", name=re.compile("train", re.I)).first).to_be_visible()
    shoot(page, "search", width=width, mode=mode)

    page.goto("/notifications/")
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    shoot(page, "notifications", width=width, mode=mode)

    page.goto("/settings/")
    expect(page.get_by_label("Display name")).to_be_visible()
    shoot(page, "settings", width=width, mode=mode)
