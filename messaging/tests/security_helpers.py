"""Shared helpers for the security, input, concurrency and fault tests.

- `db_state()`: a comparable picture of every row a request could change.
- `assert_inert()`: parse a page and prove that text typed by a user stayed text.
- `isolated()`: run one hypothesis example in a savepoint that is always rolled back.
- `run_threads()`: start N threads at the same instant, each closing its connection.
- `orphan_rows()`: rows whose foreign key points at nothing, across every model.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from html.parser import HTMLParser

from django.apps import apps
from django.contrib.auth import get_user_model
from messaging.models import UserSession as Session
from django.core.cache import cache
from django.db import connections, models, transaction
from django.test import Client
from knox.models import AuthToken

from messaging.models import Conversation, Message, MessageHistory, Notification, Profile

User = get_user_model()
PASSWORD = "pw-for-tests-123"  # conftest.make_user's default


# --- Clients ------------------------------------------------------------------------------------

_CLIENTS: dict[tuple, Client] = {}


def client_as(user, **kwargs) -> Client:
    """A client logged in as `user` (anonymous for None), with no other cookies.

    Clients are reused (one per username and options): a new Client loads the
    middleware again, and WhiteNoise then rescans the static files (~70 ms each).
    """
    key = (getattr(user, "username", None), *sorted(kwargs.items()))
    client = _CLIENTS.get(key)
    if client is None:
        client = _CLIENTS[key] = Client(**kwargs)
    client.cookies.clear()
    if user is not None:
        client.force_login(user)
    return client


# --- Database pictures --------------------------------------------------------------------


def db_state(*, include_read: bool = True) -> dict:
    """Everything a request could change, as sorted tuples.

    With include_read=False the read flags and the version stamps are left out:
    opening a conversation marks it read (by design), and that is all it may change.
    """
    read = ("read",) if include_read else ()
    version = ("version", "last_message_at") if include_read else ()
    return {
        "users": sorted(User.objects.values_list("pk", "username", "password", "is_active", "email")),
        "messages": sorted(
            Message.objects.values_list(
                "pk", "sender_id", "receiver_id", "conversation_id", "parent_message_id", "content", "edited", *read
            )
        ),
        # Marking read also tells the sender (a "read" notification): part of what opening may change.
        "notifications": sorted(
            (Notification.objects if include_read else Notification.objects.exclude(kind="read"))
            .values_list("pk", "user_id", "message_id", "kind", *read)
        ),
        # Not last_seen: the badge poll is the heartbeat, by design.
        "profiles": sorted(Profile.objects.values_list("user_id", "display_name", "time_zone", "show_online", "notify_online")),
        "history": sorted(MessageHistory.objects.values_list("pk", "message_id", "old_content", "edited_by_id")),
        "conversations": sorted(
            Conversation.objects.values_list("pk", "user_low_id", "user_high_id", *version)
        ),
        "sessions": Session.objects.count(),
        "tokens": sorted(AuthToken.objects.values_list("token_key", "user_id", "expiry")),
    }


def orphan_rows() -> dict[str, int]:
    """For every foreign key of every installed model (M2M tables included): rows that
    point at a row that does not exist. Empty when the database is consistent."""
    found = {}
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.ForeignKey):
                continue
            target = field.related_model
            existing = target._base_manager.values(field.target_field.attname)
            count = (
                model._base_manager.filter(**{f"{field.attname}__isnull": False})
                .exclude(**{f"{field.attname}__in": existing})
                .count()
            )
            if count:
                found[f"{model._meta.label}.{field.name}"] = count
    return found


def user_references(user_id: int) -> dict[str, int]:
    """Rows of any model whose foreign key to the user table holds `user_id`."""
    found = {}
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and field.related_model is User:
                count = model._base_manager.filter(**{field.attname: user_id}).count()
                if count:
                    found[f"{model._meta.label}.{field.name}"] = count
    return found


def assert_messaging_integrity() -> None:
    """Invariants of messages, notifications, history and conversations."""
    assert orphan_rows() == {}
    for message in Message.objects.select_related("conversation", "parent_message"):
        low, high = sorted([message.sender_id, message.receiver_id])
        assert (message.conversation.user_low_id, message.conversation.user_high_id) == (low, high), message.pk
        if message.parent_message_id:
            assert message.parent_message.conversation_id == message.conversation_id, message.pk
        expected = 0 if message.sender_id == message.receiver_id else 1
        notified = Notification.objects.filter(message=message).values_list("user_id", flat=True)
        assert len(notified) == expected, (message.pk, list(notified))
        if expected:
            assert notified[0] == message.receiver_id
        assert message.changed_version <= message.conversation.version
    for conversation in Conversation.objects.all():
        assert conversation.user_low_id <= conversation.user_high_id


# --- One hypothesis example, rolled back ------------------------------------------------------


class _Rollback(Exception):
    pass


@contextmanager
def isolated():
    """Run the block in a savepoint that is always rolled back, then empty the cache.

    Hypothesis runs many examples inside one test (one transaction): each example
    must start from the same data, and a database error in one (PostgreSQL aborts
    the transaction) must not poison the next.
    """
    cache.clear()
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass
    finally:
        cache.clear()


# --- Threads ---------------------------------------------------------------------------------


def run_threads(count: int, target, *, timeout: float = 60) -> tuple[list, list]:
    """Run target(i) in `count` threads released together; return (results, errors).

    Each thread closes its own database connections, as a request thread would.
    """
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = target(index)
        except BaseException as error:  # noqa: BLE001 - reported to the test
            errors[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish in time"
    return results, errors


# --- Pages: is the user's text still text? ---------------------------------------------------------

VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Every tag the app's templates (and crispy's Bootstrap 5 fields) produce.
APP_TAGS = {
    "html", "head", "meta", "title", "script", "link", "body", "a", "nav", "div", "span", "button", "ul", "ol",
    "li", "form", "input", "strong", "main", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "time",
    "p", "br", "ins", "del", "label", "textarea", "small", "blockquote", "select", "option", "em", "i", "b",
    "fieldset", "legend", "hr", "header", "footer", "mark", "noscript-in-head",
}  # fmt: skip
# Attributes that may legitimately carry user text (a username), always as a quoted value.
TEXT_ATTRS = {"data-sender", "data-pick-username", "aria-label", "value", "title", "placeholder", "alt"}
URL_ATTRS = {"href", "src", "action", "formaction", "hx-get", "hx-post", "hx-put", "hx-delete", "hx-patch", "xlink:href"}


class _PageScan(HTMLParser):
    def __init__(self, marker: str):
        super().__init__(convert_charrefs=True)
        self.marker = marker
        self.stack: list[tuple[str, dict]] = []
        self.tags: list[tuple[str, list]] = []
        self.marked_text: list[tuple[str, list[tuple[str, dict]]]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "noscript" and [t for t, _ in self.stack] == ["html", "head"]:
            tag = "noscript-in-head"  # ours: the no-JavaScript stylesheet (base.html)
        self.tags.append((tag, attrs))
        if tag not in VOID_TAGS:
            self.stack.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        if self.marker in data.lower():
            self.marked_text.append((data, list(self.stack)))


def assert_inert(html: str, marker: str = "xss_pwn", *, user_text_in_hx_disable: bool = True) -> None:
    """Fail if anything carrying `marker` became markup rather than text.

    - only the app's own tags appear; a <script> always has src (no inline script);
    - no on* attribute anywhere; no javascript:/data: URL;
    - the marker appears in no attribute name and only in plain-text attribute values;
    - with user_text_in_hx_disable, every text node holding the marker (message text)
      sits inside an element with hx-disable (or a form field's textarea).
    """
    marker = marker.lower()
    scan = _PageScan(marker)
    scan.feed(html)
    scan.close()
    for tag, attrs in scan.tags:
        assert tag in APP_TAGS, f"unexpected <{tag}> in the page: {attrs}"
        names = {name for name, _ in attrs}
        if tag == "script":
            assert "src" in names, "inline <script> in the page"
        for name, value in attrs:
            value = (value or "").strip().lower()
            assert not name.startswith("on"), f"event handler attribute {name}={value!r} on <{tag}>"
            assert marker not in name, f"attribute {name!r} came from user text"
            if marker in value:
                typed_link = (  # a URL someone typed, made a link by the message_text filter
                    tag == "a" and name == "href" and dict(attrs).get("rel") == "noopener nofollow ugc"
                    and value.startswith(("http://", "https://"))
                )  # fmt: skip
                assert name in TEXT_ATTRS or typed_link, f"user text in <{tag} {name}={value!r}>"
            if name in URL_ATTRS:
                assert not value.startswith(("javascript:", "data:", "vbscript:")), f"<{tag} {name}={value!r}>"
            if name == "hx-trigger" and "load" in value:
                # The app fires requests on load only to fetch a conversation's changes.
                assert dict(attrs).get("id") == "conversation-sync", f"<{tag} {attrs}> fires on load"
    for text, stack in scan.marked_text:
        tags = [tag for tag, _ in stack]
        assert "script" not in tags and "style" not in tags, f"user text inside <script>/<style>: {text!r}"
        if user_text_in_hx_disable and "textarea" not in tags and "title" not in tags:
            assert any("hx-disable" in attrs for _, attrs in stack), f"user text outside hx-disable: {text!r} in {tags}"
