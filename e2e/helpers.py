"""Steps a person takes, for the journeys. Role and label locators first."""

import re

from playwright.sync_api import Page, expect

PASSWORD = "a-long-e2e-passphrase"


def sign_up(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password confirmation").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_attached()


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_attached()


def compose(page: Page, to: str, text: str, *, pick_from_search: bool = True) -> None:
    """Write a new message from the compose page; returns once its conversation is open."""
    page.goto("/compose/")
    to_field = page.get_by_label("To", exact=True)
    if pick_from_search:
        to_field.press_sequentially(to[:5])
        page.get_by_role("button", name=to, exact=True).click()
    else:
        to_field.fill(to)
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name=re.compile(rf"^(Conversation with {re.escape(to)}|Notes to self)$"))).to_be_visible()
    expect(message(page, text).first).to_be_visible()


def send_in_conversation(page: Page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def start_conversation(new_user, text: str, **session_options):
    """Alice writes `text` to Bob; both have the conversation open. Returns (alice, alice_name, bob, bob_name)."""
    alice, alice_name = new_user("alice", **session_options)
    bob, bob_name = new_user("bob", **session_options)
    compose(alice, bob_name, text, pick_from_search=session_options.get("javascript", True))
    open_conversation(bob, alice_name)
    return alice, alice_name, bob, bob_name


def open_conversation(page: Page, with_user: str) -> None:
    page.goto("/")
    conversations = page.get_by_role("region", name="Conversations")
    conversations.get_by_role("link", name=re.compile(rf"^{re.escape(with_user)}(,|$)")).click()
    expect(page.get_by_role("heading", name=f"Conversation with {with_user}")).to_be_visible()


def message(page: Page, text: str):
    """The message article whose body holds `text`."""
    return page.get_by_test_id("message").filter(has_text=text)


def unread_badge(page: Page):
    return page.get_by_role("link", name=re.compile(r"^Inbox"))


# --- Threads and inline editing ---------------------------------------------------------------


def reply_to(page: Page, item, text: str) -> None:
    """Reply under a message or a thread node (`item`), with its inline form (or the reply page without JS)."""
    # A message's own Reply link comes before the replies of its expanded thread.
    item.get_by_role("link", name=re.compile(r"^Reply to ")).first.click()
    box = page.get_by_label("Your reply")
    box.fill(text)
    page.get_by_role("button", name="Send reply").click()
    expect(box).to_have_count(0)


def thread_toggle(item):
    """The "N replies" link of a message."""
    return item.get_by_role("link", name=re.compile(r"^\d+ (direct )?repl(y|ies)$"))


def replies(scope):
    """The replies of a thread: expanded under a message (`scope`), or the thread page."""
    return scope.get_by_role("group", name="Replies", exact=True)


def thread_node(scope, text: str):
    """A reply as shown in a thread (expanded in place or on the thread page)."""
    return scope.get_by_test_id("thread-node").filter(has_text=text)


def edit_message(page: Page, item, text: str) -> None:
    """Edit a message in place (or on the edit page without JS) and save."""
    item.get_by_role("link", name="Edit this message").click()
    box = page.get_by_label("Edit message")
    box.fill(text)
    page.get_by_role("button", name="Save").click()
    expect(box).to_have_count(0)


def message_exactly(page: Page, text: str):
    """The message whose own text is `text`: not a reply quoting it, nor an older message
    whose expanded thread holds it (those come earlier on the page)."""
    return page.get_by_role("article").filter(has=page.get_by_test_id("message-body").get_by_text(text, exact=True)).last
