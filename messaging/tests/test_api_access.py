"""Who may do what in the JSON API: every URL under /api/, every method, every kind of caller.

API_ROUTES has one row per URL name, and in it one entry per method the view accepts.
The tests walk the real resolver (`served_patterns("api/")`, as the HTML table in
test_security_access.py does), so an API URL without a row fails
`test_every_api_url_has_a_row` until someone decides who may use it.

What is checked, for every row: an anonymous caller, a revoked, expired or malformed
token all get a 401 in JSON for every method; a stranger gets a 404 for every method
(never a 403 that would say the thing exists) and changes nothing; a missing object is
a 404; the owner gets a 2xx for what the view accepts and a 405 for the rest, a GET
changes nothing and a write does; with the browser's session every write needs its
CSRF token. Every answer is JSON (the docs page aside).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

import pytest
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from messaging import actions
from messaging.models import Notification

from .conftest import JsonClient, api_client
from .security_helpers import PASSWORD, db_state
from .test_security_access import ALL_METHODS, served_patterns

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Op:
    """One method of one URL.

    obj: the private object in the URL, if any. actor: who uses it legitimately; `others`
    may too. strangers: who must get a 404. body: a valid JSON body. writes: whether a
    valid call changes the database (a GET never may).
    """

    obj: str | None = None
    actor: str = "alice"
    others: tuple = ()
    strangers: tuple = ("carol",)
    body: Callable | None = None
    writes: bool = False


@dataclass(frozen=True)
class ApiRoute:
    ops: dict[str, Op]
    access: str = "token"  # or "public"
    json: bool = True  # every answer is JSON (the docs page is HTML, the schema YAML)
    note: str = ""

    @property
    def obj(self) -> str | None:
        return next((op.obj for op in self.ops.values() if op.obj), None)


MESSAGE = "message"
API_ROUTES: dict[str, ApiRoute] = {
    "api:schema": ApiRoute({"GET": Op(actor=None)}, access="public", json=False, note="the OpenAPI schema: the API's shape only"),
    "api:docs": ApiRoute({"GET": Op(actor=None)}, access="public", json=False, note="Swagger UI, from /static/"),
    "api:me": ApiRoute({"GET": Op(), "DELETE": Op(body=lambda ctx: {"password": PASSWORD}, writes=True)}),
    "api:user-search": ApiRoute({"GET": Op()}),
    "api:conversation-list": ApiRoute({"GET": Op()}),
    "api:conversation-messages": ApiRoute({"GET": Op(obj="conversation", others=("bob",))}),
    "api:conversation-read": ApiRoute({"POST": Op(obj="conversation", actor="bob", others=("alice",), writes=True)}),
    "api:message-list": ApiRoute({"POST": Op(body=lambda ctx: {"to": "bob", "content": "probe"}, writes=True)}),
    "api:unread": ApiRoute({"GET": Op()}),
    "api:message-detail": ApiRoute({
        "GET": Op(obj=MESSAGE, others=("bob",)),
        "PATCH": Op(obj=MESSAGE, strangers=("carol", "bob"), body=lambda ctx: {"content": "edited probe"}, writes=True),
        "DELETE": Op(obj=MESSAGE, strangers=("carol", "bob"), writes=True),  # only the sender edits or deletes
    }),
    "api:message-thread": ApiRoute({"GET": Op(obj=MESSAGE, others=("bob",))}),
    "api:message-history": ApiRoute({"GET": Op(obj=MESSAGE, others=("bob",))}),
    "api:notification-list": ApiRoute({"GET": Op()}),
    "api:search": ApiRoute({"GET": Op()}, note="?conversation=<not yours> is a 404: test_search.py"),
    "api:notifications-read-all": ApiRoute({"POST": Op(actor="bob", writes=True)}),
    "api:notification-read": ApiRoute({"POST": Op(obj="notification", actor="bob", strangers=("carol", "alice"), writes=True)}),
}  # fmt: skip

SERVED = served_patterns("api/")
NAMES = sorted(SERVED)
PRIVATE = [n for n in NAMES if n in API_ROUTES and API_ROUTES[n].access == "token"]
WITH_OBJECT = [n for n in NAMES if n in API_ROUTES and API_ROUTES[n].obj]
OPS = [(n, m) for n in NAMES if n in API_ROUTES for m in API_ROUTES[n].ops]


def test_every_api_url_has_a_row():
    missing = sorted(set(SERVED) - set(API_ROUTES))
    stale = sorted(set(API_ROUTES) - set(SERVED))
    assert not missing, f"API URLs with no row in API_ROUTES (decide who may use them): {missing}"
    assert not stale, f"rows in API_ROUTES for URLs that no longer exist: {stale}"
    assert all(route.startswith("api/") for route, _ in SERVED.values())


# --- Fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def ctx(alice, bob, carol):
    """Alice and Bob wrote to each other (each has one unread message and one notification);
    Carol is a stranger to both. Everyone has a token."""
    message = actions.send_message(alice, to=bob, content="Hello Bob")
    actions.send_message(bob, to=alice, content="Hi Alice")
    people = {"alice": alice, "bob": bob, "carol": carol}
    return {
        **people,
        "tokens": {name: actions.create_api_token(user, days=30)[1] for name, user in people.items()},
        "message": message,
        "conversation": message.conversation,
        "notification": Notification.objects.get(message=message),
    }


def url_for(name: str, ctx, *, missing: bool = False) -> str:
    obj = API_ROUTES[name].obj
    if obj is None:
        return reverse(name)
    return reverse(name, args=[2**62 if missing else ctx[obj].pk])


def as_token(ctx, who: str | None) -> JsonClient:
    return api_client(ctx["tokens"][who] if who else None)


def call(client, method: str, url: str, body=None):
    if method == "GET":
        return client.get(url)
    return getattr(client, method.lower())(url, body if body is not None else {})


def assert_json_error(response, status: int, label: str) -> dict:
    assert response.status_code == status, f"{label}: {response.status_code} {response.content[:200]!r}"
    assert response["Content-Type"].startswith("application/json"), label
    data = response.json()
    assert data["status"] == status and data["code"] and data["detail"], label
    return data


def body_of(name: str, method: str, ctx):
    op = API_ROUTES[name].ops.get(method)
    return op.body(ctx) if op and op.body else None


# --- Without valid credentials --------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_anonymous(name, ctx):
    """A private URL is a 401 (JSON, WWW-Authenticate: Bearer) for every method; a public
    one answers GET and refuses the rest with 405."""
    route = API_ROUTES[name]
    url = url_for(name, ctx)
    before = db_state()
    for method in ALL_METHODS:
        response = call(api_client(), method, url, body_of(name, method, ctx))
        label = f"anonymous {method} {url}"
        if route.access == "token":
            assert_json_error(response, 401, label)
            assert response["WWW-Authenticate"] == "Bearer"
        elif method in route.ops:
            assert response.status_code == 200, label
        else:
            assert_json_error(response, 405, label)
    assert db_state() == before


def _revoked(ctx):
    token = ctx["tokens"]["alice"]
    actions.revoke_api_token(AuthToken.objects.get(token_key=token[:15]))
    return token


def _expired(ctx):
    token = ctx["tokens"]["alice"]
    AuthToken.objects.filter(token_key=token[:15]).update(expiry=timezone.now() - timedelta(seconds=1))
    return token


BAD_TOKENS = {
    "revoked": _revoked,
    "expired": _expired,
    "another user's digest": lambda ctx: "dm_" + "0" * 64,
    "truncated": lambda ctx: ctx["tokens"]["alice"][:-1],
    "not hex": lambda ctx: "dm_" + "z" * 64,
    "latin-1 byte": lambda ctx: "dm_\xe9" + "a" * 63,
    "two words": lambda ctx: ctx["tokens"]["alice"] + " extra",
    "empty": lambda ctx: "",
}


@pytest.mark.parametrize("bad", BAD_TOKENS)
def test_bad_tokens_are_401_at_once(bad, ctx):
    """A revoked or expired token is refused on the very next request, on every private URL
    and method; so is anything that is not a token (never a 500)."""
    token = BAD_TOKENS[bad](ctx)
    client = JsonClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    before = db_state()
    for name in PRIVATE:
        url = url_for(name, ctx)
        for method in ALL_METHODS:
            assert_json_error(call(client, method, url, body_of(name, method, ctx)), 401, f"{bad} {method} {url}")
    assert db_state() == before


# --- Strangers and missing objects --------------------------------------------------------------


@pytest.mark.parametrize("name", WITH_OBJECT)
def test_stranger_gets_404(name, ctx):
    """Someone else's conversation, message or notification is a 404 for every method the
    view accepts (the same answer as for one that does not exist), 405 for the others."""
    route = API_ROUTES[name]
    url = url_for(name, ctx)
    strangers = {who for op in route.ops.values() for who in op.strangers}
    for stranger in sorted(strangers):
        client = as_token(ctx, stranger)
        before = db_state()
        for method in ALL_METHODS:
            op = route.ops.get(method)
            response = call(client, method, url, body_of(name, method, ctx))
            label = f"{stranger} {method} {url}"
            if op is None:
                assert_json_error(response, 405, label)
            elif stranger in op.strangers:
                assert assert_json_error(response, 404, label) == assert_json_error(
                    call(client, method, url_for(name, ctx, missing=True), body_of(name, method, ctx)), 404, label
                ), "a stranger's 404 must read exactly like a missing object's"
        assert db_state() == before


@pytest.mark.parametrize("name", WITH_OBJECT)
def test_missing_object_is_404(name, ctx):
    for method, op in API_ROUTES[name].ops.items():
        response = call(as_token(ctx, op.actor), method, url_for(name, ctx, missing=True), body_of(name, method, ctx))
        assert_json_error(response, 404, f"{op.actor} {method} missing")


# --- The legitimate user ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method"), OPS, ids=[f"{n} {m}" for n, m in OPS])
def test_actor_succeeds(name, method, ctx):
    """The owner (and the other participant where allowed): a 2xx in JSON; a GET changes
    nothing, a write changes something."""
    route = API_ROUTES[name]
    op = route.ops[method]
    url = url_for(name, ctx)
    for who in (op.actor, *op.others):
        client = as_token(ctx, who) if who else api_client()
        before = db_state()
        response = call(client, method, url, body_of(name, method, ctx))
        label = f"{who} {method} {url}"
        assert 200 <= response.status_code < 300, f"{label}: {response.status_code} {response.content[:300]!r}"
        if route.json and response.status_code != 204:
            assert response["Content-Type"].startswith("application/json"), label
        if route.access == "token":
            assert response["Cache-Control"] == "private, no-store", label
        after = db_state()
        if op.writes and who == op.actor:
            assert after != before, f"{label} changed nothing: is the body valid?"
        elif not op.writes:
            assert after == before, f"{label} changed the database"


@pytest.mark.parametrize("name", PRIVATE)
def test_other_methods_are_405(name, ctx):
    route = API_ROUTES[name]
    actor = next(iter(route.ops.values())).actor
    for method in ALL_METHODS:
        if method not in route.ops:
            assert_json_error(call(as_token(ctx, actor), method, url_for(name, ctx)), 405, f"{method} {name}")


# --- The browser's session ------------------------------------------------------------------------

UNSAFE = [(n, m) for n, m in OPS if m != "GET"]


@pytest.mark.parametrize(("name", "method"), UNSAFE, ids=[f"{n} {m}" for n, m in UNSAFE])
def test_session_writes_need_the_csrf_token(name, method, ctx):
    """Signed in with the session (the browser): a write without the CSRF token is a 403 in
    JSON and changes nothing; with the token (the header the docs page sends) it works."""
    op = API_ROUTES[name].ops[method]
    client = JsonClient(enforce_csrf_checks=True)
    client.force_login(ctx[op.actor])
    url = url_for(name, ctx)
    before = db_state()
    assert_json_error(call(client, method, url, body_of(name, method, ctx)), 403, f"{method} {url} without CSRF")
    assert db_state() == before
    client.get(reverse("api:docs"))  # a page with the token sets the cookie
    token = client.cookies["csrftoken"].value
    response = getattr(client, method.lower())(url, body_of(name, method, ctx) or {}, headers={"X-CSRFToken": token})
    assert 200 <= response.status_code < 300, response.content[:300]
    assert db_state() != before


def test_session_reads_work_without_csrf(ctx):
    client = JsonClient(enforce_csrf_checks=True)
    client.force_login(ctx["alice"])
    assert client.get(reverse("api:me")).json()["username"] == "alice"
