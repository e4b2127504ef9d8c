"""The app keeps answering when a backend fails: in-process checks.

The real outage drill (Redis stopped and restarted, PostgreSQL cut off and back,
under gunicorn) is tools/fault_drill.py (`make faults`, run by .ci/run). These
tests pin the same behaviour on any database, in a second.
"""

from __future__ import annotations

import logging
import socket

import pytest
from django.db import OperationalError
from django.test import override_settings
from django.urls import reverse

from messaging import actions, selectors
from messaging.models import Message, Notification
from messaging.unread import unread_badge_count

from .conftest import HX

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_down():
    """The settings of a Redis deployment (settings.py) pointed at a port where nothing listens."""
    dead = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    with override_settings(
        CACHES=dead,
        DJANGO_REDIS_IGNORE_EXCEPTIONS=True,
        DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS=True,
        DJANGO_REDIS_LOGGER="messaging.cache",
    ):
        yield


def test_redis_down_every_page_and_send_still_works(redis_down, alice, bob, alice_client, bob_client, caplog):
    """Regression: with Redis down the send rate limiter compared None > 30 (cache.incr
    returns None when the error is ignored): every message sent was a 500."""
    caplog.set_level(logging.WARNING, logger="messaging.cache")
    message = actions.send_message(alice, to=bob, content="before the outage")
    conversation_url = message.conversation.get_absolute_url()
    for n, headers in enumerate([{}, HX, {}, HX]):
        response = alice_client.post(conversation_url, {"content": f"during the outage {n}"}, headers=headers)
        assert response.status_code == (200 if headers else 302)
    response = alice_client.post(reverse("messaging:compose"), {"to": "bob", "content": "composed"})
    assert response.status_code == 302
    reply = bob_client.post(reverse("messaging:message-reply", args=[message.pk]), {"content": "re"})
    assert reply.status_code == 302
    assert Message.objects.count() == 7 and Notification.objects.count() == 7

    assert unread_badge_count(bob) == 6  # counted from the database, every time
    badge = bob_client.get(reverse("messaging:unread-badge"), headers=HX)
    assert badge.status_code == 200 and 'data-unread-count="6"' in badge.content.decode()
    for url in [
        reverse("messaging:inbox"),
        conversation_url,
        reverse("messaging:conversation-messages", args=[message.conversation_id]) + "?v=1",
        reverse("messaging:thread-detail", args=[message.pk]),
        reverse("messaging:notifications"),
    ]:
        assert bob_client.get(url).status_code == 200, url
    assert unread_badge_count(bob) == 0  # bob opened the conversation
    assert "Exception ignored" in caplog.text  # the outage is logged, by the "messaging.cache" logger
    assert {r.name for r in caplog.records} >= {"messaging.cache"}


def test_redis_down_login_still_works(redis_down, client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests-123"})
    assert response.status_code == 302


def _lost(*args, **kwargs):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


@pytest.mark.parametrize("where", ["loading the user", "in the view"])
@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_database_error_is_a_friendly_503(alice_client, monkeypatch, headers, where, caplog):
    """A request that loses the database answers 503 with the friendly page, not a 500.

    Regression ("loading the user"): the 503 page was rendered with the request's
    context processors, which loaded the user again, from the database that was
    gone; that second error made every request a 500 during an outage."""
    import django.contrib.auth

    if where == "loading the user":
        monkeypatch.setattr(django.contrib.auth, "get_user", _lost)
    else:
        monkeypatch.setattr(selectors, "inbox_page", _lost)
    response = alice_client.get(reverse("messaging:inbox"), headers=headers)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    html = response.content.decode()
    assert "We'll be right back" in html and "Nothing you already sent is lost" in html
    assert "database unavailable" in caplog.text
