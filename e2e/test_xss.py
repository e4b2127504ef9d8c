"""Markup typed as text stays text in a real browser.

Every payload of messaging/tests/test_security_input.py (scripts, event handlers,
javascript: links, SVG, broken markup, hx-* attributes; each carries "xss_pwn")
goes in as message text, as an edit (so it is in the history too) and as a reply;
some as usernames. Then, on the conversation page, the inbox, the thread view, the
history drawer and the notifications, in both people's browsers: no dialog fires, no
element or attribute came from a payload, no request went to a payload's URL, and
the payload is there, as text. Messages sent, edited and replied through the page
(htmx swaps and the live poll) are checked the same way.

The bulk is written with the actions (not the UI), so the send rate limit is not in
the way; the UI writes are few, and the limit is raised for this test's live server
anyway, so adding some never makes it flaky.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from messaging import actions
from messaging.models import Conversation, Message
from messaging.tests.security_helpers import APP_TAGS, TEXT_ATTRS
from messaging.tests.test_security_input import XSS_PAYLOADS

from . import helpers

MARKER = "xss_pwn"
PAYLOADS = [p for p in XSS_PAYLOADS if MARKER in p.lower()]
# Sign-up refuses these names; a shell or an import could still store them.
USERNAME_PAYLOADS = [p for p in PAYLOADS if len(p) <= 150][::6]
# What the page would do if a payload became markup, found in the live DOM.
INJECTED = r"""(args) => {
  const [marker, appTags, textAttrs] = args;
  const tags = new Set(appTags), plain = new Set(textAttrs), found = [];
  for (const el of document.querySelectorAll("*")) {
    const tag = el.tagName.toLowerCase();
    const ours = tag === "noscript" && el.parentElement && el.parentElement.tagName === "HEAD";  // base.html
    if (!tags.has(tag) && !ours) found.push(`<${tag}> element`);
    if (tag === "script" && !el.hasAttribute("src")) found.push("inline <script>");
    for (const {name, value} of Array.from(el.attributes)) {
      const v = value.toLowerCase();
      if (name.startsWith("on")) found.push(`${tag}[${name}]`);
      if (name.includes(marker)) found.push(`${tag}[${name}]`);
      // A URL someone typed, made a link by the message_text filter, may hold the marker.
      const typedLink = tag === "a" && name === "href" && el.getAttribute("rel") === "noopener nofollow ugc" &&
        /^https?:\/\//.test(v);
      if (v.includes(marker) && !plain.has(name) && !typedLink) found.push(`${tag}[${name}=${value}]`);
      if (/^(href|src|action|formaction|xlink:href|data|srcdoc)$/.test(name) && /^\\s*(javascript|data|vbscript):/.test(v))
        found.push(`${tag}[${name}=${value}]`);
    }
  }
  return found;
}"""
# Message text always sits in an hx-disable element (htmx ignores hx-* inside it).
BODIES = """() => Array.from(document.querySelectorAll("[hx-disable]"), e => e.textContent)"""


def _squash(text: str) -> str:
    # Line breaks become <br> (no text), and text-truncate may wrap: compare without whitespace.
    return "".join(text.split())


class Watch:
    """Dialogs and requests a page makes that a payload would have caused."""

    def __init__(self, *pages):
        self.dialogs, self.requests = [], []
        for page in pages:
            page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
            page.on("request", self._request)

    def _request(self, request):
        url = request.url.lower()
        if MARKER in url or "evil.example" in url or url.startswith(("javascript:", "data:text/html")):
            self.requests.append(request.url)

    def check(self, page, where: str, *, texts=(), names=()):
        """Nothing fired or got in, and every payload text and name is on the page as text."""
        injected = page.evaluate(INJECTED, [MARKER, sorted(APP_TAGS), sorted(TEXT_ATTRS)])
        assert injected == [], f"{where}: markup from a payload: {injected[:5]}"
        assert self.dialogs == [], f"{where}: dialogs fired: {self.dialogs}"
        assert self.requests == [], f"{where}: requests a payload made: {self.requests}"
        assert page.evaluate("window.__xss") is None
        shown = {_squash(text) for text in page.evaluate(BODIES)}
        missing = [t for t in texts if not any(_squash(t) in body for body in shown)]
        assert missing == [], f"{where}: not shown as text: {missing[:3]}"
        content = page.locator("body").inner_text()
        for name in names:
            assert _squash(name) in _squash(content), f"{where}: username not shown as text: {name!r}"


@pytest.fixture
def no_send_limit(settings, remote_base_url):
    if remote_base_url:
        pytest.skip("writes its payloads with the actions and makes markup usernames: needs the local live server")
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "send": "10000/m"}


def test_payloads_render_as_text_on_every_page(new_user, no_send_limit):
    User = get_user_model()
    alice_page, alice_name = new_user("alice")
    bob_page, bob_name = new_user("bob")
    alice, bob = User.objects.get(username=alice_name), User.objects.get(username=bob_name)
    watch = Watch(alice_page, bob_page)

    # Every third payload a message, the next an edit (twice, so it is in the history
    # too), the next a reply from Bob.
    sent, edited, replied = PAYLOADS[0::3], PAYLOADS[1::3], PAYLOADS[2::3]
    roots = [actions.send_message(alice, to=bob, content=p) for p in sent]
    edits = []
    for n, payload in enumerate(edited):
        message = actions.send_message(alice, to=bob, content=f"draft {n}")
        actions.edit_message(message, editor=alice, content=payload)
        edits.append(actions.edit_message(message, editor=alice, content=f"{payload} (again)"))
    for root, payload in zip(roots, replied):
        actions.reply_to_message(root, sender=bob, content=payload)
    villains = []
    for n, name in enumerate(USERNAME_PAYLOADS):
        villain = User.objects.create_user(username=name, password=helpers.PASSWORD)
        villains.append(villain)
        first = actions.send_message(villain, to=bob, content=f"hello from villain {n}")
        actions.reply_to_message(first, sender=bob, content=f"who are you, {n}?")
        actions.reply_to_message(first, sender=villain, content=f"{MARKER} villain {n} answers")
    conversation_url = roots[0].conversation.get_absolute_url()

    # The inbox, before Bob reads anything: the 20 newest unread and every conversation.
    bob_page.goto("/")
    newest = list(Message.unread.for_user(bob).values_list("content", flat=True)[:20])
    watch.check(bob_page, "Bob's inbox", texts=[t for t in newest if MARKER in t.lower()], names=USERNAME_PAYLOADS)

    # The conversation, both sides: every payload, current text and replies.
    everything = sent + [f"{p} (again)" for p in edited] + replied
    for page, who in ((alice_page, "Alice"), (bob_page, "Bob")):
        page.goto(conversation_url)
        expect(page.get_by_role("heading", name=re.compile("^Conversation with"))).to_be_visible()
        watch.check(page, f"{who}'s conversation", texts=everything)

    # Through the page: a send (htmx append, then Bob's live poll), an edit, a reply.
    one_line = [p for p in PAYLOADS if "\n" not in p]
    live, edit, reply = (f"{p} [{tag}]" for p, tag in zip(one_line[-3:], ("ui-send", "ui-edit", "ui-reply")))
    helpers.send_in_conversation(alice_page, live)
    expect(helpers.message(alice_page, "[ui-send]")).to_be_visible()
    expect(helpers.message(bob_page, "[ui-send]")).to_be_visible(timeout=10_000)  # by the poll
    watch.check(alice_page, "Alice after sending", texts=[live])
    watch.check(bob_page, "Bob after the poll brought it", texts=[live])

    helpers.edit_message(alice_page, alice_page.locator(f"#message-{roots[1].pk}"), edit)
    expect(helpers.message(alice_page, "[ui-edit]")).to_be_visible()
    watch.check(alice_page, "Alice after an inline edit", texts=[edit])

    helpers.reply_to(bob_page, bob_page.locator(f"#message-{roots[2].pk}"), reply)
    expect(helpers.message(bob_page, "[ui-reply]")).to_be_visible()
    watch.check(bob_page, "Bob after an inline reply", texts=[reply])

    # The thread: unfolded in place (htmx), and as its own page.
    root = bob_page.locator(f"#message-{roots[0].pk}")
    root.get_by_role("link", name=re.compile(r"^\d+ repl(y|ies)$")).click()
    expect(root.get_by_test_id("thread-node").first).to_be_visible()  # the reply, unfolded
    watch.check(bob_page, "the thread unfolded in place", texts=[sent[0], replied[0]])
    bob_page.goto(roots[0].get_thread_url())
    watch.check(bob_page, "the thread page", texts=[sent[0], replied[0]])

    # The history drawer: earlier versions, with the changed words marked.
    bob_page.goto(conversation_url)
    drawer = bob_page.locator("#history-drawer")
    for n, (message, payload) in enumerate(list(zip(edits, edited))[:4]):
        bob_page.locator(f"#message-{message.pk}").get_by_role("link", name="Edited: see earlier versions").click()
        expect(drawer).to_be_visible()
        expect(drawer.get_by_test_id("history-version")).to_have_count(3)
        watch.check(bob_page, f"the history drawer of message {message.pk}", texts=[payload, f"{payload} (again)"])
        # Each version is shown as a diff against the one before: its text is all but the <del>s.
        versions = [_squash(t) for t in drawer.locator(".version-text").evaluate_all(
            "els => els.map(e => { const c = e.cloneNode(true); c.querySelectorAll('del').forEach(d => d.remove()); return c.textContent; })"
        )]  # fmt: skip
        assert versions == [_squash(f"{payload} (again)"), _squash(payload), _squash(f"draft {n}")], versions
        expect(drawer).to_have_class(re.compile(r"\bshow\b"))  # opened, not still sliding in
        drawer.get_by_role("button", name="Close").click()
        expect(drawer).to_be_hidden()

    # Markup usernames: the conversation with each, and the notifications.
    for villain in villains:
        bob_page.goto(Conversation.objects.between(bob, villain).get().get_absolute_url())
        expect(bob_page.get_by_role("heading", name=f"Conversation with {villain.username}")).to_be_visible()
        watch.check(bob_page, f"the conversation with {villain.username!r}", names=[villain.username])
    bob_page.goto("/notifications/")
    watch.check(bob_page, "Bob's notifications", names=USERNAME_PAYLOADS)
    alice_page.goto("/notifications/")
    watch.check(alice_page, "Alice's notifications")


def test_the_checker_sees_each_payload_when_it_is_markup(open_session, expect_console_errors):
    """Not vacuous: put raw into a page, every payload is found by the same DOM check."""
    expect_console_errors(r".", r"(?s).*")
    page = open_session(javascript=True)
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.route("**/*", lambda route: route.abort())  # payload URLs go nowhere
    missed = []
    for payload in PAYLOADS:
        page.set_content(f"<html><body><main><div hx-disable>{payload}</div></main></body></html>", wait_until="commit")
        if not page.evaluate(INJECTED, [MARKER, sorted(APP_TAGS), sorted(TEXT_ATTRS)]):
            missed.append(payload)
    assert missed == []
