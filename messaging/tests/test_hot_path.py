"""The hot paths' shorter middleware chain (site_config/wsgi.py) keeps every check and header."""

import pytest
from django.conf import settings
from django.test import Client
from django.test.client import ClientHandler
from django.urls import reverse

from messaging.unread import BADGE_TOKEN_HEADER, badge_token
from site_config.wsgi import hot_path_handler

from .conftest import HX

pytestmark = pytest.mark.django_db


def hot_client(user=None) -> Client:
    client = Client()
    client.handler = hot_path_handler(ClientHandler, enforce_csrf_checks=False)
    if user is not None:
        client.force_login(user)
    return client


def test_the_hot_chain_drops_only_what_the_hot_paths_never_use():
    dropped = set(settings.MIDDLEWARE) - set(settings.HOT_PATH_MIDDLEWARE)
    assert dropped == settings.HOT_PATH_SKIPS
    for kept in ("SecurityMiddleware", "SessionMiddleware", "AuthenticationMiddleware", "XFrameOptionsMiddleware",
                 "CSPMiddleware", "HtmxMiddleware", "HtmxLoginRedirectMiddleware", "DatabaseUnavailableMiddleware"):
        assert any(name.endswith(kept) for name in settings.HOT_PATH_MIDDLEWARE), kept


def test_the_badge_through_the_hot_chain(bob, message):
    client = hot_client(bob)
    headers = {**HX, BADGE_TOKEN_HEADER: badge_token(bob.pk, client.session.session_key)}
    response = client.get(reverse("messaging:unread-badge"), headers=headers)
    assert response.status_code == 200 and b"1" in response.content
    assert response["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in response
    assert response["Cache-Control"] == "private, no-store"
    # Signed out: no badge, the tab is told (as on the full chain).
    anonymous = hot_client()
    response = anonymous.get(reverse("messaging:unread-badge"), headers=HX)
    assert response.status_code == 200 and "signed-out" in response["HX-Trigger"]
    # Not a GET: refused before anything is read.
    # (405, not the full chain's CSRF 403: this is the hot chain.)
    assert client.post(reverse("messaging:unread-badge"), headers=HX).status_code == 405


def test_the_cached_partial_through_the_hot_chain(alice, bob, carol, message):
    url = f"{reverse('messaging:conversation-messages', args=[message.conversation_id])}?v={message.conversation.version}"
    client = hot_client(bob)
    first = client.get(url, headers=HX)
    assert first.status_code == 200 and b'data-testid="message"' in first.content
    assert client.get(url, headers=HX).content == first.content  # the cached copy
    assert hot_client(carol).get(url, headers=HX).status_code == 404  # not hers, cached or not
    client.logout()
    assert b'data-testid="message"' not in client.get(url, headers=HX).content  # the session ended
    assert hot_client(bob).post(url, headers=HX).status_code in (403, 405)
