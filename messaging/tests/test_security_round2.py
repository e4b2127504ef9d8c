"""Security round 2 (issue 10): a session that ends ends everywhere, limits that can't be
sidestepped, bounded work per request, never a 500, and text that keeps its direction."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from messaging import actions
from messaging.diffing import word_diff
from messaging.models import Message, MessageHistory
from messaging.sessions import SessionStore

from .conftest import HX, signed_out
from .security_helpers import PASSWORD, client_as, isolated
from .test_security_input import FUZZ, texts

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW_PASSWORD = "a-brand-new-passphrase-42"


def replay(client: Client, **extra) -> Client:
    """Another client sending the same Cookie header: what an attacker holding it sends."""
    copy = Client(**extra)
    for name, morsel in client.cookies.items():
        copy.cookies[name] = morsel.value
    return copy


def fragment_url(conversation) -> str:
    conversation.refresh_from_db()
    return reverse("messaging:conversation-messages", args=[conversation.pk]) + f"?v={conversation.version}"


def cache_fragment(client, conversation) -> str:
    """Ask for the partial twice (the second is a hit) and return its URL."""
    url = fragment_url(conversation)
    for _ in range(2):
        response = client.get(url, headers=HX)
        assert response.status_code == 200 and "Hello Bob" in response.content.decode()
    return url


def assert_sent_to_login(response) -> None:
    assert signed_out(response), response.status_code
    assert b"Hello Bob" not in response.content


def log_in(username: str, password: str = PASSWORD) -> Client:
    client = Client()
    assert client.post(reverse("login"), {"username": username, "password": password}).status_code == 302
    return client


# --- 1. The cached fragment dies with its session --------------------------------------------------


def test_cached_fragment_is_not_served_after_logout(alice, bob, message):
    alice_client = log_in("alice")
    url = cache_fragment(alice_client, message.conversation)
    stolen = replay(alice_client)
    alice_client.post(reverse("logout"))
    assert_sent_to_login(stolen.get(url, headers=HX))


def test_cached_fragment_is_not_served_after_a_password_change_elsewhere(alice, bob, message):
    laptop = log_in("alice")
    url = cache_fragment(laptop, message.conversation)
    phone = log_in("alice")
    response = phone.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert_sent_to_login(laptop.get(url, headers=HX))
    assert_sent_to_login(laptop.get(reverse("messaging:unread-badge"), headers=HX))
    # The phone, where the password was changed, stays signed in.
    assert phone.get(url, headers=HX).status_code == 200


def test_a_password_set_anywhere_ends_every_session(alice, bob, message):
    laptop = log_in("alice")
    url = cache_fragment(laptop, message.conversation)
    alice.set_password(NEW_PASSWORD)
    alice.save()  # the admin or a shell
    assert_sent_to_login(laptop.get(url, headers=HX))


def test_cached_fragment_is_not_served_after_the_account_is_deleted(alice, bob, message):
    alice_client, bob_client = log_in("alice"), log_in("bob")
    url = cache_fragment(alice_client, message.conversation)
    cache_fragment(bob_client, message.conversation)
    stolen = replay(alice_client)
    assert alice_client.post(reverse("messaging:delete-user"), {"password": PASSWORD}).status_code == 302
    assert_sent_to_login(stolen.get(url, headers=HX))
    # The partner's session lives on, but the conversation is gone: its cached copy too.
    assert bob_client.get(url, headers=HX).status_code == 404


def test_cached_fragment_is_not_served_after_the_session_expires(alice, bob, message):
    alice_client = log_in("alice")
    url = cache_fragment(alice_client, message.conversation)
    session = SessionStore(alice_client.cookies[settings.SESSION_COOKIE_NAME].value)
    session.set_expiry(-60)
    session.save()
    assert_sent_to_login(alice_client.get(url, headers=HX))


def test_private_responses_say_so(alice_client, message):
    url = fragment_url(message.conversation)
    for _ in range(2):  # miss, then hit
        response = alice_client.get(url, headers=HX)
        assert response["Cache-Control"] == "private, no-store" and "Expires" not in response
    badge = alice_client.get(reverse("messaging:unread-badge"), headers=HX)
    assert "private" in badge["Cache-Control"]


def test_a_hit_still_costs_no_query(alice_client, message, django_assert_num_queries):
    url = fragment_url(message.conversation)
    alice_client.get(url, headers=HX)
    with django_assert_num_queries(0):
        assert alice_client.get(url, headers=HX).status_code == 200


# --- 2. The badge token is bound to its session ------------------------------------------------------


def badge_token_of(client) -> str:
    html = client.get(reverse("messaging:inbox")).content.decode()
    return re.search(r'hx-headers=\'\{"X-Badge-Token": "([^"]+)"\}\'', html).group(1)


def badge_count(response) -> int | None:
    found = re.search(r'data-unread-count="(\d+)"', response.content.decode())
    return int(found.group(1)) if found else None


def test_badge_token_is_useless_without_its_session(alice, bob, carol, message):
    for n in range(3):
        actions.send_message(carol, to=bob, content=f"for bob {n}")
    bob_client = log_in("bob")
    token = badge_token_of(bob_client)
    url = reverse("messaging:unread-badge")
    headers = {**HX, "X-Badge-Token": token}
    assert badge_count(bob_client.get(url, headers=headers)) == 4
    # No cookie at all: sent to log in, no count.
    response = Client().get(url, headers=headers)
    assert signed_out(response) and badge_count(response) is None
    # Someone else's session: their own count, never Bob's.
    alice_client = log_in("alice")
    assert badge_count(alice_client.get(url, headers=headers)) == 0
    # After logout, the cookie and token together get nothing.
    stolen = replay(bob_client)
    bob_client.post(reverse("logout"))
    response = stolen.get(url, headers=headers)
    assert signed_out(response) and badge_count(response) is None


def test_badge_token_dies_with_a_password_change(alice, bob, message):
    laptop = log_in("bob")
    headers = {**HX, "X-Badge-Token": badge_token_of(laptop)}
    assert badge_count(laptop.get(reverse("messaging:unread-badge"), headers=headers)) == 1
    bob.set_password(NEW_PASSWORD)
    bob.save()
    response = laptop.get(reverse("messaging:unread-badge"), headers=headers)
    assert signed_out(response) and badge_count(response) is None


# --- 3. Limits key on what the check uses -------------------------------------------------------------


def login(client, username, password="wrong"):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_limit_keys_on_the_normalised_username(alice):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    variants = ["alice", " alice", "alice\t", "ALICE", "ａｌｉｃｅ", "\u00a0alice\u00a0", "Alice ", "aLiCe"]
    for n in range(10):
        assert login(attacker, variants[n % len(variants)]).status_code == 200
    response = login(attacker, "alice", PASSWORD)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert login(Client(REMOTE_ADDR="198.51.100.1"), "alice", PASSWORD).status_code == 302  # not locked out


def test_one_address_cannot_spray_many_accounts(alice, bob):
    attacker = Client(REMOTE_ADDR="203.0.113.10")
    for n in range(30):
        assert login(attacker, f"someone{n}").status_code == 200
    assert login(attacker, "bob", PASSWORD).status_code == 429
    assert login(Client(REMOTE_ADDR="198.51.100.2"), "bob", PASSWORD).status_code == 302


def test_admin_login_is_limited(django_user_model):
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    attacker = Client(REMOTE_ADDR="203.0.113.11")
    url = reverse("admin:login")
    for _ in range(10):
        assert attacker.post(url, {"username": "root", "password": "wrong"}).status_code == 200
    response = attacker.post(url, {"username": "root", "password": PASSWORD})
    assert response.status_code == 429 and "Retry-After" in response
    assert "_auth_user_id" not in attacker.session


def test_signup_is_limited_per_address():
    client = Client(REMOTE_ADDR="203.0.113.12")
    for n in range(10):
        data = {"username": f"new{n}", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
        assert client.post(reverse("signup"), data).status_code == 302
        client.cookies.clear()
    response = client.post(reverse("signup"), {"username": "one-more", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 429 and b"Too many accounts" in response.content
    assert b'value="one-more"' in response.content  # what was typed stays
    assert not User.objects.filter(username="one-more").exists()


def test_password_change_old_password_check_is_limited(alice):
    client = log_in("alice")
    for _ in range(10):
        data = {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
        assert client.post(reverse("password_change"), data).status_code == 200
    data = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post(reverse("password_change"), data)
    assert response.status_code == 429
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)  # not even the right one is checked now


def test_account_deletion_password_check_is_limited(alice_client, alice):
    for _ in range(10):
        assert alice_client.post(reverse("messaging:delete-user"), {"password": "wrong"}).status_code == 422
    response = alice_client.post(reverse("messaging:delete-user"), {"password": PASSWORD})
    assert response.status_code == 429
    assert User.objects.filter(pk=alice.pk).exists()


def test_edits_are_limited(alice_client, message):
    url = reverse("messaging:message-edit", args=[message.pk])
    for n in range(30):
        assert alice_client.post(url, {"content": f"edit {n}"}).status_code == 302
    for headers in ({}, HX):
        response = alice_client.post(url, {"content": "one edit too many"}, headers=headers)
        assert response.status_code == 429 and b"one edit too many" in response.content
    message.refresh_from_db()
    assert message.content == "edit 29"


# --- 4. The history diff is time-bounded -------------------------------------------------------------


def worst_case_edit() -> tuple[str, str]:
    """5,000 characters rewritten word by word: cubic for difflib on word tokens."""
    old = " ".join(f"w{n % 97}" for n in range(1250))[:5000]
    new = " ".join(f"w{(n * 7) % 89}" for n in range(1250))[:5000]
    return old, new


def test_the_word_diff_is_right_and_bounded():
    old, new = worst_case_edit()
    for deadline in (0.001, 0.02, 1.0):
        chunks = word_diff(old, new, deadline=deadline)
        assert "".join(c.text for c in chunks if c.change != "added") == old
        assert "".join(c.text for c in chunks if c.change != "removed") == new
    small = word_diff("Meet at 7:00 at the station", "Meet at 7:30 at the station")
    assert [c.text for c in small if c.change != "same"] == ["00", "30"]


def test_history_of_a_worst_case_edit_answers(alice, bob_client, message, django_assert_max_num_queries):
    old, new = worst_case_edit()
    actions.edit_message(message, editor=alice, content=old)
    actions.edit_message(message, editor=alice, content=new)
    with django_assert_max_num_queries(5):
        response = bob_client.get(reverse("messaging:message-history", args=[message.pk]), headers=HX)
    assert response.status_code == 200 and response.content.decode().count('data-testid="history-version"') == 3


def test_history_is_paginated(alice, bob_client, message):
    for n in range(25):
        actions.edit_message(message, editor=alice, content=f"version {n}")
    url = reverse("messaging:message-history", args=[message.pk])
    html = bob_client.get(url, headers=HX).content.decode()
    assert html.count('data-testid="history-version"') == 11  # the current text and 10 earlier
    before = re.search(r"\?before=(\d+)", html).group(1)
    more = bob_client.get(url, {"before": before}, headers=HX).content.decode()
    assert more.count('data-testid="history-version"') == 10
    rest = bob_client.get(url, {"before": re.search(r"\?before=(\d+)", more).group(1)}, headers=HX).content.decode()
    assert rest.count('data-testid="history-version"') == 5 and "Show earlier versions" not in rest
    assert "Hello Bob" in rest and "Current version" in html and "Current version" not in more + rest


# --- 5. Over a limit, any body is a 429, never a 500 ---------------------------------------------------


def post_targets(message):
    return [
        reverse("messaging:compose"),
        message.conversation.get_absolute_url(),
        reverse("messaging:message-reply", args=[message.pk]),
        reverse("messaging:message-edit", args=[message.pk]),
    ]


@override_settings(RATE_LIMITS={**settings.RATE_LIMITS, "send": "0/m", "edit": "0/m"})
def test_rate_limited_posts_without_the_form_fields_are_429(alice_client, message):
    for url in post_targets(message):
        for headers in ({}, HX):
            for body in (
                {"data": {}},
                {"data": json.dumps({"content": "hi"}), "content_type": "application/json"},
                {"data": "garbage", "content_type": "text/plain"},
            ):
                response = alice_client.post(url, headers=headers, **body)
                assert response.status_code == 429, (url, headers, body, response.status_code)
                assert int(response["Retry-After"]) > 0
    assert Message.objects.count() == 1


@override_settings(RATE_LIMITS={**settings.RATE_LIMITS, "send": "0/m", "edit": "0/m"})
@FUZZ
@given(content=texts, to=texts, htmx=st.booleans(), which=st.integers(0, 3))
def test_fuzz_rate_limited_forms(alice_client, message, content, to, htmx, which):
    with isolated():
        url = post_targets(message)[which]
        response = alice_client.post(url, {"content": content, "to": to}, headers=HX if htmx else {})
        assert response.status_code in (400, 429)  # 400: a body over the upload limit
        assert Message.objects.count() == 1 and not MessageHistory.objects.exists()


# --- 6. The partner deletes their account mid-request -------------------------------------------------


@pytest.fixture
def partner_deleted_after(monkeypatch, bob):
    """Each write action runs, commits, and then Bob deletes his account (before the view answers)."""

    def wrap(name):
        original = getattr(actions, name)

        def write_then_delete(*args, **kwargs):
            result = original(*args, **kwargs)
            fresh = User.objects.filter(pk=bob.pk).first()
            if fresh is not None:
                actions.delete_account(fresh)
            return result

        monkeypatch.setattr(actions, name, write_then_delete)

    for name in ("send_message", "reply_to_message", "edit_message"):
        wrap(name)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("which", ["compose", "send", "reply", "edit"])
def test_a_write_racing_the_partners_deletion_is_not_a_500(alice, bob, alice_client, message, partner_deleted_after, which, htmx):
    url = {
        "compose": reverse("messaging:compose"),
        "send": message.conversation.get_absolute_url(),
        "reply": reverse("messaging:message-reply", args=[message.pk]),
        "edit": reverse("messaging:message-edit", args=[message.pk]),
    }[which]
    response = alice_client.post(url, {"to": "bob", "content": "racing"}, headers=HX if htmx else {})
    assert response.status_code in (200, 204, 302), response.status_code
    assert not User.objects.filter(pk=bob.pk).exists()


@FUZZ
@given(content=texts, htmx=st.booleans(), which=st.integers(0, 3))
def test_fuzz_partner_deleted_mid_request(alice, bob, alice_client, message, monkeypatch, content, htmx, which):
    with isolated():
        with monkeypatch.context() as patch:
            original = actions.send_message

            def send_then_delete(*args, **kwargs):
                result = original(*args, **kwargs)
                actions.delete_account(User.objects.get(pk=bob.pk))
                return result

            patch.setattr(actions, "send_message", send_then_delete)
            url = post_targets(message)[which]
            response = alice_client.post(url, {"to": "bob", "content": content}, headers=HX if htmx else {})
            assert response.status_code < 500


# --- 7. Bidirectional text stays in its element --------------------------------------------------------

RLO = "\u202e"


class _DirScan(HTMLParser):
    VOID = {"br", "img", "input", "meta", "link", "hr", "wbr", "source", "area", "base", "col", "embed", "track"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.found: list[list[tuple[str, dict]]] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        if RLO in data:
            self.found.append(list(self.stack))


def assert_isolated(html: str) -> int:
    """Every text holding a direction override sits in an element with dir="auto"."""
    scan = _DirScan()
    scan.feed(html)
    for stack in scan.found:
        tags = [tag for tag, _ in stack]
        assert "textarea" in tags or any(attrs.get("dir") == "auto" for _, attrs in stack), tags
    return len(scan.found)


def test_direction_overrides_never_leave_the_message(alice, bob):
    alice_client, bob_client = client_as(alice), client_as(bob)
    evil = f"abc {RLO}gnissim si siht"
    first = actions.send_message(alice, to=bob, content=evil)
    reply = actions.reply_to_message(first, sender=bob, content=f"re: {RLO}olleh")
    actions.edit_message(first, editor=alice, content=f"{evil} (edited)")
    pages = [
        (bob_client, reverse("messaging:inbox")),
        (bob_client, reverse("messaging:notifications")),
        (alice_client, reverse("messaging:notifications")),
        (alice_client, first.conversation.get_absolute_url()),
        (alice_client, reverse("messaging:message-history", args=[first.pk])),
        (alice_client, reverse("messaging:thread-detail", args=[first.pk])),
        (alice_client, reverse("messaging:message-reply", args=[reply.pk])),
        (alice_client, reverse("messaging:message-reply", args=[first.pk])),
    ]
    for client, url in pages:
        for headers in ({}, HX):
            html = client.get(url, headers=headers).content.decode()
            shown = assert_isolated(html)
            assert shown > 0 or (headers and "/reply/" in url), url  # the reply form alone quotes nothing
    # The conversation as a poll brings it, and the inbox's last message.
    actions.send_message(bob, to=alice, content=f"{RLO}last")
    assert assert_isolated(alice_client.get(reverse("messaging:inbox")).content.decode()) > 0
    cache.clear()
