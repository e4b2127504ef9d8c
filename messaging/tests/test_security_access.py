"""Who may do what, for every URL the project serves.

The table ROUTES has one row per URL name. The tests walk the real resolver, so a
new URL without a row fails `test_every_url_has_a_row` (and every other test
parametrised on it) until someone decides who may use it.

Skipped on purpose: everything under admin/ (the `admin:` namespace and its unnamed
catch-all and object redirects). Those are Django's own views, each
wrapped in `AdminSite.admin_view` (staff only), generated per registered model;
`test_admin_is_staff_only` checks the wrapper instead of listing them. Django's
password-reset views are *not* skipped: they are public by design (a user who
forgot their password is anonymous) and get rows like everything else. Everything under
api/ has a table of its own in test_api_access.py (JSON, tokens, 401 rather than the login
page), walked from the same resolver by `served_patterns("api/")`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from messaging import actions
from messaging.models import Message, Notification

from .conftest import HX, signed_out
from .security_helpers import PASSWORD, client_as, db_state

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)
NEW_PASSWORD = "a-brand-new-passphrase-42"
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
FORM_VIEW = frozenset({"GET", "POST", "PUT"})  # Django's FormView treats PUT as POST


# --- The table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Who may use one URL, and how.

    access: "login" (anonymous goes to the login page) or "public".
    methods: what the view accepts; anything else must be 405.
    obj: the private object in the URL ("conversation", "message", "notification"), if any.
    actor: who uses it legitimately (None: anonymous); `others` may use it too.
    strangers: users who must get a 404 for `obj`.
    post: valid form data for the state change a POST makes (None: POST changes nothing).
    get_effect: what a GET may change: "none", or "marks-read" (opening a conversation
        marks its messages to you read, by design).
    """

    access: str
    methods: frozenset
    obj: str | None = None
    actor: str | None = "alice"
    others: tuple = ()
    strangers: tuple = ("carol",)
    post: Callable | None = None
    get_effect: str = "none"
    kwargs: Callable | None = None
    effect: Callable | None = None  # proves the positive CSRF control did something
    note: str = ""


GET = frozenset({"GET"})
POST = frozenset({"POST"})
GET_POST = frozenset({"GET", "POST"})


def _reset_kwargs(ctx):
    return {"uidb64": urlsafe_base64_encode(force_bytes(ctx["alice"].pk)), "token": "bad-token"}


ROUTES: dict[str, Route] = {
    "healthz": Route("public", GET, actor=None),
    "signup": Route(
        "public",
        GET_POST,
        actor=None,
        post=lambda ctx: {"username": "newbie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    ),
    "login": Route(
        "public", FORM_VIEW, actor=None, post=lambda ctx: {"username": "alice", "password": PASSWORD},
        note="the include's own `login` (accounts/login/) is shadowed by RateLimitedLoginView",
    ),
    "logout": Route("public", frozenset({"POST"}), post=lambda ctx: {}),
    "password_change": Route(
        "login",
        FORM_VIEW,
        post=lambda ctx: {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    ),
    "password_change_done": Route("login", GET),
    "password_reset": Route(
        "public",
        FORM_VIEW,
        actor=None,
        post=lambda ctx: {"email": "alice@example.com"},
        effect=lambda before, after: len(mail.outbox) == 1,
        note="public by design; sends a mail, changes no row",
    ),
    "password_reset_done": Route("public", GET, actor=None),
    "password_reset_confirm": Route(
        "public", frozenset(ALL_METHODS), actor=None, kwargs=_reset_kwargs,
        note="with a bad token Django's dispatch() shows 'invalid link' for any method (reads nothing, "
        "writes nothing); the real set-password POST is covered by the CSRF test",
    ),
    "password_reset_complete": Route("public", GET, actor=None),
    "messaging:inbox": Route("login", GET),
    "messaging:unread-badge": Route("login", GET),
    "messaging:events": Route(
        "public", GET, note="the event stream: 204 unless signed in (EventSource stops; nothing to redirect to)"
    ),
    "messaging:compose": Route("login", GET_POST, post=lambda ctx: {"to": "bob", "content": "csrf probe"}),
    "messaging:user-search": Route("login", GET),
    "messaging:conversation-detail": Route(
        "login", GET_POST, obj="conversation", others=("bob",), get_effect="marks-read",
        post=lambda ctx: {"content": "csrf probe"},
    ),
    "messaging:conversation-messages": Route("login", GET, obj="conversation", others=("bob",)),
    "messaging:conversation-poll": Route(
        "login", GET, obj="conversation", others=("bob",), get_effect="marks-read"
    ),
    "messaging:conversation-presence": Route("login", GET, obj="conversation", others=("bob",)),
    "messaging:message-detail": Route("login", GET, obj="message", others=("bob",)),
    "messaging:message-reply": Route(
        "login", GET_POST, obj="message", actor="bob", others=("alice",), post=lambda ctx: {"content": "csrf probe"}
    ),
    "messaging:message-edit": Route(
        "login", GET_POST, obj="message", strangers=("carol", "bob"),  # only the sender edits
        post=lambda ctx: {"content": "csrf probe"},
    ),
    "messaging:message-delete": Route(
        "login", GET_POST, obj="message", strangers=("carol", "bob"),  # only the sender deletes
        post=lambda ctx: {},
    ),
    "messaging:message-history": Route("login", GET, obj="message", others=("bob",)),
    "messaging:thread-detail": Route("login", GET, obj="message", others=("bob",)),
    "messaging:notifications": Route("login", GET),
    "messaging:search": Route("login", GET, note="?conversation=<not yours> is a 404: test_search.py"),
    "messaging:notifications-read-all": Route("login", POST, actor="bob", post=lambda ctx: {}),
    "messaging:notification-read": Route(
        "login", POST, obj="notification", actor="bob", strangers=("carol", "alice"), post=lambda ctx: {}
    ),
    "messaging:settings": Route("login", GET),
    "messaging:profile-settings": Route(
        "login", GET_POST, post=lambda ctx: {"display_name": "Alice A", "time_zone": "Europe/Paris", "show_online": "on"},
    ),
    "messaging:api-tokens": Route("login", GET_POST, post=lambda ctx: {"expires_in": "30"}),
    "messaging:api-token-revoke": Route(
        "login", POST, post=lambda ctx: {"token": ctx["token"].token_key},
        note="the token is named in the form; another person's is a 404 (test_api_tokens.py)",
    ),
    "messaging:delete-user": Route("login", GET_POST, post=lambda ctx: {"password": PASSWORD}),
    "messaging:goodbye": Route(
        "public", frozenset(ALL_METHODS), actor=None,
        note="static page, no method restriction (harmless: it reads and writes nothing)",
    ),
}  # fmt: skip


# --- Walking the resolver -----------------------------------------------------------------------


def walk_patterns(patterns=None, prefix="", namespace=""):
    """(qualified name, route, callback) of every pattern, in resolution order."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            ns = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from walk_patterns(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        else:
            name = ":".join(filter(None, [namespace, pattern.name])) if pattern.name else f"<unnamed {prefix}{pattern.pattern}>"
            yield name, prefix + str(pattern.pattern), pattern.callback


def served_patterns(under: str | None = None):
    """The first pattern of each name (later ones are shadowed): those under `under`, or
    without it every pattern but the admin's and the API's."""
    seen = {}
    for name, route, callback in walk_patterns():
        if not route.startswith(under) if under else route.startswith(("admin/", "api/")):
            continue
        seen.setdefault(name, (route, callback))
    return seen


SERVED = served_patterns()
NAMES = sorted(SERVED)


def test_every_url_has_a_row():
    missing = sorted(set(SERVED) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(SERVED))
    assert not missing, f"URLs with no row in ROUTES (decide who may use them): {missing}"
    assert not stale, f"rows in ROUTES for URLs that no longer exist: {stale}"


def test_shadowed_patterns_never_serve():
    """A name defined twice (Django's `login` in auth.urls) must resolve to the first."""
    first = {}
    for name, route, callback in walk_patterns():
        if name in first and not route.startswith("admin/"):
            if "<" in route:
                continue
            assert resolve("/" + route).func is first[name], f"{route} serves a shadowed view"
        first.setdefault(name, callback)


def test_admin_is_staff_only(client, alice):
    for url in [reverse("admin:index"), reverse("admin:messaging_message_changelist")]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        client.force_login(alice)  # not staff
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        client.logout()


# --- Fixtures and request helpers -----------------------------------------------------------------


@pytest.fixture
def ctx(alice, bob, carol):
    """Alice wrote to Bob; Bob has a notification; Carol is a stranger to both."""
    message = actions.send_message(alice, to=bob, content="Hello Bob")
    actions.send_message(bob, to=alice, content="Hi Alice")
    token, _ = actions.create_api_token(alice, days=30)
    return {
        "token": token,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "message": message,
        "conversation": message.conversation,
        "notification": Notification.objects.get(message=message),
    }


def url_for(name: str, ctx, *, missing: bool = False) -> str:
    row = ROUTES[name]
    if row.kwargs:
        return reverse(name, kwargs=row.kwargs(ctx))
    if row.obj is None:
        return reverse(name)
    return reverse(name, args=[2**62 if missing else ctx[row.obj].pk])


def call(client, method: str, url: str, *, htmx: bool = False, data=None):
    headers = HX if htmx else {}
    if method == "GET":
        return client.get(url, data or {}, headers=headers)
    if method == "POST":
        return client.post(url, data or {}, headers=headers)
    return getattr(client, method.lower())(url, headers=headers)


def row_param(name):
    return pytest.param(name, id=name)


# --- Anonymous ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [row_param(n) for n in NAMES])
def test_anonymous(name, ctx):
    """A private URL sends anonymous users to the login page, whatever the method;
    an htmx request is told the session ended instead (the tab says so and keeps the page)."""
    row = ROUTES[name]
    url = url_for(name, ctx)
    before = db_state()
    for method in ALL_METHODS:
        for htmx in (False, True):
            response = call(client_as(None), method, url, htmx=htmx)
            label = f"{method} {url} htmx={htmx}"
            assert response.status_code < 500, label
            if row.access == "login":
                if htmx:
                    assert signed_out(response), label
                else:
                    assert response.status_code == 302, label
                    assert response["Location"].startswith(reverse("login") + "?next="), label
            elif method not in row.methods:
                assert response.status_code == 405, label
    if row.access == "login" or row.post is None:
        assert db_state() == before


# --- Strangers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [row_param(n) for n in NAMES if ROUTES.get(n) and ROUTES[n].obj])
def test_stranger_gets_404(name, ctx):
    """Someone else's conversation, message or notification is a 404 for every method
    the view accepts (405 for the others), plain or htmx, and nothing changes."""
    row = ROUTES[name]
    url = url_for(name, ctx)
    for stranger in row.strangers:
        client = client_as(ctx[stranger])
        before = db_state()
        for method in ALL_METHODS:
            for htmx in (False, True):
                data = row.post(ctx) if (method == "POST" and row.post) else None
                response = call(client, method, url, htmx=htmx, data=data)
                expected = 404 if method in row.methods else 405
                assert response.status_code == expected, f"{stranger} {method} {url} htmx={htmx}"
        assert db_state() == before


@pytest.mark.parametrize("name", [row_param(n) for n in NAMES if ROUTES.get(n) and ROUTES[n].obj])
def test_missing_object_is_404(name, ctx):
    row = ROUTES[name]
    client = client_as(ctx[row.actor])
    for method in row.methods:
        for htmx in (False, True):
            assert call(client, method, url_for(name, ctx, missing=True), htmx=htmx).status_code == 404


# --- The legitimate user ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [row_param(n) for n in NAMES])
def test_actor_never_gets_an_error(name, ctx):
    """The owner/participant: every accepted method works (no 403/404/5xx), plain and
    htmx; other methods are 405; a GET changes nothing (or only read flags)."""
    row = ROUTES[name]
    url = url_for(name, ctx)
    for who in (row.actor, *row.others):
        user = ctx[who] if who else None
        for method in ALL_METHODS:
            for htmx in (False, True):
                client = client_as(user)
                before = db_state(include_read=row.get_effect == "none")
                response = call(client, method, url, htmx=htmx)
                label = f"{who} {method} {url} htmx={htmx}"
                assert response.status_code < 500, label
                if method not in row.methods:
                    assert response.status_code == 405, label
                    continue
                assert response.status_code not in (403, 404, 405), label
                if method == "GET":
                    after = db_state(include_read=row.get_effect == "none")
                    assert after == before, f"{label} changed the database"


# --- CSRF and GET side effects ------------------------------------------------------------------------


def _csrf_case(name, ctx):
    """(url, data) of a valid state change for the row, and the client's user."""
    row = ROUTES[name]
    if name == "password_reset_confirm":
        # The real flow: the mailed link stores the token in the session, then
        # redirects to the set-password form, which is what changes state.
        alice = ctx["alice"]
        uid = urlsafe_base64_encode(force_bytes(alice.pk))
        token = default_token_generator.make_token(alice)
        url = reverse(name, kwargs={"uidb64": uid, "token": "set-password"})
        return url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, (uid, token)
    return url_for(name, ctx), row.post(ctx), None


CSRF_ROWS = [n for n in NAMES if ROUTES.get(n) and (ROUTES[n].post or n == "password_reset_confirm")]


@pytest.mark.parametrize("name", [row_param(n) for n in CSRF_ROWS])
def test_state_change_needs_csrf_token(name, ctx):
    """Without a CSRF token a state-changing POST is a 403 and changes nothing; with
    the token the same POST does change something (so the 403 was the token)."""
    row = ROUTES[name]
    ctx["alice"].email = "alice@example.com"
    ctx["alice"].save(update_fields=["email"])
    user = ctx[row.actor] if row.actor else None
    url, data, reset = _csrf_case(name, ctx)
    client = client_as(user, enforce_csrf_checks=True)
    if reset:
        uid, token = reset
        assert client.get(reverse(name, kwargs={"uidb64": uid, "token": token})).status_code == 302
    before = db_state()
    for htmx in (False, True):
        response = call(client, "POST", url, htmx=htmx, data=data)
        assert response.status_code == 403, f"POST {url} htmx={htmx} without a token"
    assert db_state() == before and not mail.outbox

    # A page with a form sets the cookie; the token then goes in the form, as a browser sends it.
    page = url if "GET" in row.methods and name != "password_reset_confirm" else reverse("login")
    client.get(page)
    if reset:
        client.get(url)
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(url, {**data, "csrfmiddlewaretoken": token})
    assert response.status_code in (200, 302), response.status_code
    after = db_state()
    effect = row.effect or (lambda before, after: before != after)
    assert effect(before, after), f"POST {url} with the token changed nothing: is the data valid?"


GET_ROWS = [n for n in NAMES if ROUTES.get(n) and ROUTES[n].post and "GET" in ROUTES[n].methods]


@pytest.mark.parametrize("name", [row_param(n) for n in GET_ROWS])
def test_get_with_the_form_data_changes_nothing(name, ctx):
    """A link (GET) carrying the form's fields, as a forged <img src> would, changes nothing."""
    row = ROUTES[name]
    user = ctx[row.actor] if row.actor else None
    url, data, _ = _csrf_case(name, ctx)
    client = client_as(user)
    before = db_state(include_read=row.get_effect == "none")
    for htmx in (False, True):
        assert call(client, "GET", url, htmx=htmx, data=data).status_code < 500
    assert db_state(include_read=row.get_effect == "none") == before
    assert not mail.outbox


def test_post_only_endpoints_refuse_get(ctx):
    client = client_as(ctx["bob"])
    for name in ("messaging:notification-read", "messaging:notifications-read-all", "logout"):
        row = ROUTES[name]
        assert "GET" not in row.methods
        assert client.get(url_for(name, ctx)).status_code == 405
    assert Notification.objects.filter(user=ctx["bob"], read=False).exists()


# --- Cached responses never cross users -----------------------------------------------------------------


def _sender_classes(html: str) -> dict[str, str]:
    """{message id: "mine"/"theirs"} for each message article in the HTML."""
    return dict(
        (pk, cls)
        for pk, cls in re.findall(r'<article id="message-(\d+)"[^>]*?class="message p-2 px-3 (mine|theirs)"', html, re.S)
    )


def test_cached_responses_never_cross_users(alice, bob, carol, make_user):
    """Two users asking for the same URLs one right after the other, cold and warm
    cache, plain and htmx, each get their own page; a third gets a 404, not a copy."""
    from_alice = actions.send_message(alice, to=bob, content="from-alice-7f3a")
    from_bob = actions.send_message(bob, to=alice, content="from-bob-91cc")
    for n in range(3):  # Bob has 4 unread, Alice 1: the badges differ
        actions.send_message(carol, to=bob, content=f"carol to bob {n}")
    conversation = from_alice.conversation
    conversation.refresh_from_db()
    clients = {"alice": client_as(alice), "bob": client_as(bob)}
    expected_unread = {"alice": 1, "bob": 4}
    version = conversation.version
    urls = [
        reverse("messaging:conversation-messages", args=[conversation.pk]) + f"?v={version}",
        reverse("messaging:conversation-messages", args=[conversation.pk]) + f"?v={version}&since=0",
        reverse("messaging:unread-badge"),
        reverse("messaging:inbox"),
    ]
    for url in urls:
        for htmx in (True, False, True, False):  # the second round is served from the cache
            for who in ("alice", "bob", "alice", "bob"):
                response = clients[who].get(url, headers=HX if htmx else {})
                html = response.content.decode()
                label = f"{who} {url} htmx={htmx}"
                if "unread-badge" in url and not htmx:
                    assert response.status_code == 302, label
                    continue
                assert response.status_code == 200, label
                if not htmx:
                    assert f"Signed in as <strong>{who}</strong>" in html, label
                if "messages/" in url and (htmx or "since" not in url):
                    mine, theirs = (from_alice, from_bob) if who == "alice" else (from_bob, from_alice)
                    classes = _sender_classes(html)
                    assert classes.get(str(mine.pk)) == "mine", label
                    assert classes.get(str(theirs.pk)) == "theirs", label
                if "unread-badge" in url:
                    assert f'data-unread-count="{expected_unread[who]}"' in html, label
                if url == reverse("messaging:inbox"):
                    assert ("carol to bob" in html) == (who == "bob"), label
        if "messages/" in url:
            # The second round really came from the cache (else this test proves nothing).
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                assert clients["bob"].get(url, headers=HX).status_code == 200
            assert not any("messaging_message" in q["sql"] for q in queries.captured_queries)
        carol_response = client_as(carol).get(url, headers=HX)
        if "conversations/" in url:
            assert carol_response.status_code == 404
        else:
            assert "from-alice-7f3a" not in carol_response.content.decode()
        anonymous = Client().get(url, headers=HX)
        assert signed_out(anonymous)


# --- Rate limits ------------------------------------------------------------------------------------


def _login(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def limit_of(name: str) -> int:
    from django_ratelimit.core import _split_rate

    return _split_rate(settings.RATE_LIMITS[name])[0]


def test_login_attempts_are_limited_per_client(alice, bob):
    limit = limit_of("login")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(limit):
        assert _login(attacker, "alice", "wrong").status_code == 200
    for headers in ({}, HX):
        response = _login(attacker, "alice", PASSWORD, headers=headers)  # even the right one, now
        assert response.status_code == 429
        assert b"Too many login attempts" in response.content
        assert b'value="alice"' in response.content  # the typed username stays
    # Alice, from her own address, and Bob, from the attacker's, still get in.
    assert _login(Client(REMOTE_ADDR="198.51.100.1"), "alice", PASSWORD).status_code == 302
    assert _login(attacker, "bob", PASSWORD).status_code == 302


def test_sending_is_limited_per_user(alice, bob, carol):
    limit = limit_of("send")
    conversation_url = actions.send_message(bob, to=alice, content="hi").conversation.get_absolute_url()
    alice_client, bob_client = client_as(alice), client_as(bob)
    before = Message.objects.count()
    for n in range(limit):
        headers = HX if n % 2 else {}
        assert alice_client.post(conversation_url, {"content": f"m{n}"}, headers=headers).status_code in (200, 302)
    assert Message.objects.count() == before + limit
    for url, data in [
        (conversation_url, {"content": "one too many"}),
        (reverse("messaging:compose"), {"to": "carol", "content": "one too many"}),
        (reverse("messaging:message-reply", args=[Message.objects.first().pk]), {"content": "one too many"}),
    ]:
        for headers in ({}, HX):
            response = alice_client.post(url, data, headers=headers)
            assert response.status_code == 429 and int(response["Retry-After"]) > 0
            assert b"sending messages too fast" in response.content
            assert b"one too many" in response.content  # the typed text stays
    assert Message.objects.count() == before + limit
    # Bob is not locked out by Alice's burst.
    assert bob_client.post(conversation_url, {"content": "bob still can"}).status_code == 302
    assert Message.objects.filter(content="bob still can").exists()


# --- Production settings ------------------------------------------------------------------------------


def _production_env(**extra) -> dict:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    # Not the test run's environment: the root conftest sets DJANGO_ALLOW_ASYNC_UNSAFE for
    # Playwright, which check --deploy rightly refuses.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "DJANGO_ALLOW"))}
    env.update(
        DEBUG="0",
        SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(50)),
        ALLOWED_HOSTS="example.com",
        DJANGO_SETTINGS_MODULE="site_config.settings",
    )
    for key in ("SECURE_SSL_REDIRECT", "SECURE_COOKIES", "SECURE_HSTS_SECONDS", "PLAIN_STATIC"):
        env.pop(key, None)
    env.update(extra)
    return env


def test_check_deploy_passes():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=_production_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


PRODUCTION_PROBE = r"""
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="example.com")
plain = client.get("/accounts/login/")
secure = client.get("/accounts/login/", secure=True)
cookie = secure.cookies.get(settings.CSRF_COOKIE_NAME)
print(json.dumps({
    "plain_status": plain.status_code, "plain_location": plain.get("Location"),
    "status": secure.status_code,
    "hsts": secure.get("Strict-Transport-Security"),
    "xfo": secure.get("X-Frame-Options"),
    "nosniff": secure.get("X-Content-Type-Options"),
    "csp": secure.get("Content-Security-Policy"),
    "csrf_cookie_secure": bool(cookie and cookie["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
}))
"""


def test_production_responses_are_hardened():
    """With DEBUG off and nothing else set (a fresh process, not pytest): HTTPS redirect,
    HSTS, secure cookies, X-Frame-Options DENY, and a CSP without inline script.

    PLAIN_STATIC only because this process has not run collectstatic (no manifest)."""
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE],
        cwd=BASE_DIR, env=_production_env(PLAIN_STATIC="1"), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["plain_status"] == 301 and probe["plain_location"].startswith("https://example.com/")
    assert probe["status"] == 200
    assert "max-age=31536000" in probe["hsts"] and "includeSubDomains" in probe["hsts"]
    assert probe["xfo"] == "DENY" and probe["nosniff"] == "nosniff"
    assert probe["csrf_cookie_secure"] and probe["csrf_secure"]
    assert probe["session_cookie_secure"] and probe["session_cookie_httponly"]
    _assert_strict_csp(probe["csp"])


def _csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_strict_csp(header: str | None) -> None:
    assert header, "no Content-Security-Policy header"
    directives = _csp_directives(header)
    script = directives.get("script-src", directives.get("default-src"))
    assert script, header
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, header
    assert directives.get("object-src") == ["'none'"] and directives.get("frame-ancestors") == ["'none'"], header


def test_every_page_carries_the_security_headers(ctx):
    """In-process (the test settings): CSP, X-Frame-Options, nosniff, and HSTS on HTTPS."""
    client = client_as(ctx["alice"])
    for name in ("messaging:inbox", "messaging:conversation-detail", "messaging:compose", "messaging:settings"):
        for htmx in (False, True):
            response = client.get(url_for(name, ctx), headers=HX if htmx else {}, secure=True)
            assert response.status_code == 200
            _assert_strict_csp(response.get("Content-Security-Policy"))
            assert response["X-Frame-Options"] == "DENY"
            assert response["X-Content-Type-Options"] == "nosniff"
            assert "max-age=" in response["Strict-Transport-Security"]
    assert Client().get(reverse("login"), secure=True)["X-Frame-Options"] == "DENY"
