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


# --- One cache round trip for a hit ----------------------------------------------------------


def count_cache_reads(monkeypatch):
    """The reads the code asks of the cache (with Redis, each is a round trip); LocMemCache's
    get_many calling its own get per key is one."""
    from django.core.cache import caches

    page_cache, reads, inside = caches["default"], [], []

    def counted(name, original):
        def read(*args, **kwargs):
            if not inside:
                reads.append(name)
            inside.append(name)
            try:
                return original(*args, **kwargs)
            finally:
                inside.pop()

        return read

    for name in ("get", "get_many", "has_key"):
        monkeypatch.setattr(page_cache, name, counted(name, getattr(page_cache, name)))
    return reads


def test_a_hit_is_one_cache_read_and_no_query(bob, bob_client, message, monkeypatch, django_assert_num_queries):
    url = partial_url(message.conversation, message.conversation.version)
    first = bob_client.get(url, headers=HX)  # rendered and stored by cache_page
    bob_client.get(url, headers=HX)  # the first hit learns the view's Vary list
    reads = count_cache_reads(monkeypatch)
    with django_assert_num_queries(0):
        hit = bob_client.get(url, headers=HX)
    assert reads == ["get_many"]
    assert hit.content == first.content and hit["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("case", ["page evicted", "vary list changed"])
def test_a_hit_that_cannot_be_used_as_read_is_looked_up_again(alice, bob, bob_client, message, monkeypatch, case):
    from django.core.cache import caches

    page_cache = caches["default"]
    url = partial_url(message.conversation, message.conversation.version)
    bob_client.get(url, headers=HX)
    bob_client.get(url, headers=HX)
    asked, get_many = [], page_cache.get_many
    monkeypatch.setattr(page_cache, "get_many", lambda keys, *a, **k: asked.append(list(keys)) or get_many(keys, *a, **k))
    bob_client.get(url, headers=HX)  # a hit: the session, the mark, cache_page's header list and page
    (session_key, gone_key, header_key, page_key), = asked
    assert page_cache.get(header_key) is not None and page_cache.get(page_key) is not None
    if case == "page evicted":
        page_cache.delete(page_key)
    else:  # the header list now names another header: the page under the old list is not this one
        page_cache.set(header_key, ["HTTP_ACCEPT_LANGUAGE"])
    message.content = "changed under the cache"  # not through an action: the version stays
    message.save(update_fields=["content"])
    html = bob_client.get(url, headers=HX).content.decode()
    assert 'data-testid="message"' in html and "changed under the cache" in html  # rendered again, not a stale guess
