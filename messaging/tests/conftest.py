import pytest
from django.core.cache import cache
from django.test import Client

from messaging import actions


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _one_rate_limit_window(monkeypatch):
    """Each test counts its requests in one rate-limit window. django-ratelimit's windows are
    aligned to the clock, so a test crossing a boundary would start counting again (a flaky
    "no 429"); here each (key, period) keeps the window it first got."""
    from django_ratelimit import core

    original, windows = core._get_window, {}

    def window(value, period):
        if (value, period) not in windows:
            windows[value, period] = original(value, period)
        return windows[value, period]

    monkeypatch.setattr(core, "_get_window", window)


@pytest.fixture
def make_user(django_user_model):
    def make(username, password="pw-for-tests-123"):
        return django_user_model.objects.create_user(username=username, password=password)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


def client_for(client_class, user):
    c = client_class()
    c.force_login(user)
    return c


@pytest.fixture
def alice_client(alice):
    from django.test import Client

    return client_for(Client, alice)


@pytest.fixture
def bob_client(bob):
    from django.test import Client

    return client_for(Client, bob)


@pytest.fixture
def carol_client(carol):
    from django.test import Client

    return client_for(Client, carol)


@pytest.fixture
def message(alice, bob):
    """Alice wrote to Bob."""
    return actions.send_message(alice, to=bob, content="Hello Bob")


@pytest.fixture
def conversation(message):
    return message.conversation


HX = {"HX-Request": "true"}


def signed_out(response) -> bool:
    """An htmx request whose session has ended: the tab says so and nothing is swapped
    (middleware.HtmxLoginRedirectMiddleware), with a sign-in link back to the page."""
    import json

    if response.status_code != 200 or response.get("HX-Reswap") != "none":
        return False
    trigger = json.loads(response.get("HX-Trigger") or "{}")
    return "/accounts/login/?next=" in trigger.get("signed-out", {}).get("login", "")


# --- The JSON API -------------------------------------------------------------------------


class JsonClient(Client):
    """The test client, sending bodies as JSON (as a script does)."""

    def post(self, path, data=None, content_type="application/json", **extra):
        return super().post(path, data, content_type, **extra)

    def patch(self, path, data="", content_type="application/json", **extra):
        return super().patch(path, data, content_type, **extra)

    def delete(self, path, data="", content_type="application/json", **extra):
        return super().delete(path, data, content_type, **extra)


def api_client(token: str | None = None, **defaults) -> JsonClient:
    """A JSON client for the API with a personal access token (or none)."""
    if token:
        defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return JsonClient(**defaults)


@pytest.fixture
def token_for():
    """token_for(user) -> a fresh personal access token of theirs (made as Settings makes it)."""

    def make(user, days: int = 30) -> str:
        return actions.create_api_token(user, days=days)[1]

    return make


@pytest.fixture
def alice_api(alice, token_for):
    return api_client(token_for(alice))


@pytest.fixture
def bob_api(bob, token_for):
    return api_client(token_for(bob))


@pytest.fixture
def carol_api(carol, token_for):
    return api_client(token_for(carol))
