"""The cached conversation partial with several workers, each with its own LocMemCache.

gunicorn -w 4 on the embedded default gives every worker a cache of its own, so a
write handled by one worker cannot invalidate what another worker cached. The
partial's URL carries the conversation version read from the database, which is
what makes a stale copy unreachable; these tests switch the cache between
requests the way a load balancer switches workers.
"""

from urllib.parse import urlencode

import pytest
from django.test import override_settings
from django.urls import reverse

from messaging import actions

from .conftest import HX

pytestmark = pytest.mark.django_db


def worker(name: str):
    return override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"worker-{name}"}}
    )


def partial_url(conversation, version):
    return reverse("messaging:conversation-messages", args=[conversation.pk]) + "?" + urlencode({"v": version})


def test_a_write_through_one_worker_is_never_hidden_by_another(alice, bob, alice_client, bob_client, message):
    conversation = message.conversation
    with worker("a"):
        old_version = bob_client.get(conversation.get_absolute_url()).context["version"]
        cached = bob_client.get(partial_url(conversation, old_version), headers=HX).content.decode()
        assert "Hello Bob" in cached
    with worker("b"):
        alice_client.post(conversation.get_absolute_url(), {"content": "sent through worker b"})
        actions.edit_message(message, editor=alice, content="Hello Bob, edited through worker b")
    with worker("a"):
        page = bob_client.get(conversation.get_absolute_url())
        assert "sent through worker b" in page.content.decode()
        new_version = page.context["version"]
        assert new_version > old_version
        fresh = bob_client.get(partial_url(conversation, new_version), headers=HX).content.decode()
        assert "sent through worker b" in fresh and "edited through worker b" in fresh
        # The old URL still answers from worker a's cache, but no page links to it any more.
        assert f"v={old_version}" not in page.content.decode()


def test_the_sender_sees_their_own_new_message_at_once(alice, bob, alice_client, message):
    conversation = message.conversation
    version = alice_client.get(conversation.get_absolute_url()).context["version"]
    alice_client.get(partial_url(conversation, version), headers=HX)  # cached for Alice
    response = alice_client.post(conversation.get_absolute_url(), {"content": "my own news"}, headers=HX)
    assert "my own news" in response.content.decode()  # appended in place
    page = alice_client.get(conversation.get_absolute_url())
    assert "my own news" in page.content.decode()
    assert "my own news" in alice_client.get(partial_url(conversation, page.context["version"]), headers=HX).content.decode()


def test_a_version_from_the_future_is_clamped_not_cached_early(alice, bob, bob_client, message):
    """Asking for a version that does not exist yet must not cache an old page under a future key."""
    conversation = message.conversation
    conversation.refresh_from_db()
    future = conversation.version + 1
    bob_client.get(partial_url(conversation, future), headers=HX)
    actions.send_message(alice, to=bob, content="arrives later")
    html = bob_client.get(partial_url(conversation, future), headers=HX).content.decode()
    assert "arrives later" in html


def test_a_url_without_version_is_not_cached(alice, bob, bob_client, message):
    url = reverse("messaging:conversation-messages", args=[message.conversation_id])
    bob_client.get(url, headers=HX)
    actions.send_message(alice, to=bob, content="arrives later")
    assert "arrives later" in bob_client.get(url, headers=HX).content.decode()
