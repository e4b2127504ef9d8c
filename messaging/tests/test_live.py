"""Live updates: what is published, to whom, when; the event stream; the Redis relay."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from messaging import actions, live
from messaging.views import events

from .conftest import HX

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """Every event published, as (user ids, name)."""
    seen = []
    monkeypatch.setattr(live, "publish", lambda user_ids, name, data="": seen.append((sorted(set(user_ids)), name)))
    return seen


def names_for(published, user) -> set[str]:
    return {name for users, name in published if user.pk in users}


def test_a_message_tells_both_people_after_commit(alice, bob, carol, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = actions.send_message(alice, to=bob, content="hi")
    conversation = f"conversation-{message.conversation_id}"
    assert {conversation, "inbox", "unread", "notifications"} <= names_for(published, bob)
    assert {conversation, "inbox"} <= names_for(published, alice)
    assert "unread" not in names_for(published, alice) and "notifications" not in names_for(published, alice)
    assert names_for(published, carol) == set()


def test_nothing_is_published_for_a_write_that_rolls_back(alice, bob, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                actions.send_message(alice, to=bob, content="never")
                raise RuntimeError
        except RuntimeError:
            pass
    assert published == []


def test_reading_tells_the_sender_and_the_readers_badge(alice, bob, message, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        actions.mark_conversation_read(message.conversation, user=bob)
    assert f"conversation-{message.conversation_id}" in names_for(published, alice)  # "Seen"
    assert "unread" in names_for(published, bob)


def test_edits_and_notification_reads_are_published(alice, bob, message, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        actions.edit_message(message, editor=alice, content="edited")
        actions.mark_notifications_read(bob)
    assert f"conversation-{message.conversation_id}" in names_for(published, bob)
    assert "notifications" in names_for(published, bob)


# --- The hub ---------------------------------------------------------------------------------------


def test_the_hub_delivers_to_the_users_streams_only():
    async def scenario():
        hub = live.Hub()
        mine, other = hub.subscribe(1), hub.subscribe(2)
        hub.deliver([1], "inbox")
        event = await asyncio.wait_for(mine[1].get(), 1)
        assert event.name == "inbox" and other[1].empty()
        hub.unsubscribe(1, mine)
        hub.unsubscribe(2, other)
        assert hub.stream_count() == 0

    async_to_sync(scenario)()


def test_a_stream_too_far_behind_is_told_to_resync():
    async def scenario():
        hub = live.Hub()
        handle = hub.subscribe(1)
        for n in range(settings.LIVE_QUEUE_SIZE + 5):
            hub.deliver([1], f"conversation-{n}")
        await asyncio.sleep(0)
        queued = [handle[1].get_nowait() for _ in range(handle[1].qsize())]
        assert queued and queued[-1].name in ("resync",) or any(e.name == "resync" for e in queued)
        assert len(queued) <= settings.LIVE_QUEUE_SIZE

    async_to_sync(scenario)()


def test_events_are_server_sent_event_frames():
    assert live.Event("conversation-3", "57", 9).encode() == b"id: 9\nevent: conversation-3\ndata: 57\n\n"


# --- The stream view ---------------------------------------------------------------------------------


def test_the_stream_is_nothing_for_an_anonymous_visitor(client):
    response = client.get(reverse("messaging:events"))
    assert response.status_code == 204
    assert client.post(reverse("messaging:events")).status_code == 405


def read_stream(client, *, until, timeout=3.0):
    """Open the stream in a test client and read its frames until `until(text)` or the timeout."""
    response = client.get(reverse("messaging:events"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Accel-Buffering"] == "no" and response["Cache-Control"] == "no-store"

    async def consume():
        text = ""
        iterator = response.streaming_content.__aiter__()
        try:
            while not until(text):
                chunk = await asyncio.wait_for(iterator.__anext__(), timeout)
                text += chunk.decode()
        except (StopAsyncIteration, TimeoutError):
            pass
        finally:
            await iterator.aclose()
        return text

    return response, consume


def test_the_stream_delivers_the_users_events(alice, bob, alice_client, monkeypatch):
    monkeypatch.setattr(settings, "REDIS_URL", "")  # the in-process hub: one process here
    response, consume = read_stream(alice_client, until=lambda text: "event: inbox" in text)

    async def scenario():
        task = asyncio.ensure_future(consume())
        for _ in range(50):
            if live.hub.stream_count():
                break
            await asyncio.sleep(0.02)
        live.hub.deliver([bob.pk], "unread")  # not Alice's
        live.hub.deliver([alice.pk], "inbox")
        return await task

    text = async_to_sync(scenario)()
    assert text.startswith("retry: ") and "event: inbox" in text and "unread" not in text
    assert live.hub.stream_count() == 0  # closing the stream unsubscribes it


@override_settings(LIVE_HEARTBEAT_SECONDS=0.05)
def test_the_stream_ends_with_its_session(alice, alice_client):
    response, consume = read_stream(alice_client, until=lambda text: "signed-out" in text)

    async def scenario():
        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.12)  # a heartbeat or two with the session alive
        from messaging.sessions import SessionStore

        await SessionStore(alice_client.cookies[settings.SESSION_COOKIE_NAME].value).adelete()
        return await task

    text = async_to_sync(scenario)()
    assert "event: ping" in text and "event: signed-out" in text


@override_settings(LIVE_MAX_STREAMS=2)
def test_past_the_cap_the_polls_take_over(alice_client, alice):
    responses = [alice_client.get(reverse("messaging:events")) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 204]
    async def close(response):
        await response.streaming_content.__aiter__().aclose()

    for response in responses[:2]:
        async_to_sync(close)(response)


# --- Redis: one subscription per process ----------------------------------------------------------------


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (run by .ci/run on PostgreSQL + Redis)")
def test_events_cross_processes_through_redis(alice, bob):
    """A publish from any process reaches this process's streams through its one subscription."""

    async def scenario():
        handle = live.hub.subscribe(alice.pk)
        try:
            live.ensure_relay()
            live.ensure_relay()  # one relay per event loop, however many streams
            relays = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "_relay"]
            assert len(relays) == 1
            for _ in range(100):  # wait for the subscription
                import redis

                count = redis.Redis.from_url(settings.REDIS_URL).pubsub_numsub(live.channel())[0][1]
                if count:
                    break
                await asyncio.sleep(0.02)
            # As another process would: straight to Redis.
            redis.Redis.from_url(settings.REDIS_URL).publish(live.channel(), json.dumps([[alice.pk], "inbox", ""]))
            event = await asyncio.wait_for(handle[1].get(), 3)
            assert event.name == "inbox"
        finally:
            live.hub.unsubscribe(alice.pk, handle)
            for task in relays:
                task.cancel()

    async_to_sync(scenario)()


def test_a_lost_publish_never_fails_the_write(alice, bob, monkeypatch, django_capture_on_commit_callbacks):
    class Down:
        def publish(self, *args):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(settings, "REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(live, "_redis_client", Down())
    with django_capture_on_commit_callbacks(execute=True):
        message = actions.send_message(alice, to=bob, content="still sent")
    assert message.pk


def test_polls_still_answer_through_the_views(alice, bob, bob_client, message):
    """The fallback: the conversation poll and the badge answer as before (204 when nothing changed)."""
    page = bob_client.get(message.conversation.get_absolute_url())
    poll = reverse("messaging:conversation-poll", args=[message.conversation_id])
    assert bob_client.get(poll, {"v": page.context["version"]}, headers=HX).status_code == 204
    assert bob_client.get(reverse("messaging:unread-badge"), headers=HX).status_code == 200


def test_the_asgi_application_serves_pages_and_the_stream(alice, alice_client):
    """site_config.asgi: pages through Django's WSGI handler in a thread pool, the stream
    through the ASGI handler; both answer as the app does."""
    from asgiref.testing import ApplicationCommunicator

    from site_config.asgi import application

    async def call(path):
        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [(b"host", b"testserver")],
                 "http_version": "1.1", "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 1)}
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(5)
        await communicator.wait(5)
        return start["status"]

    assert async_to_sync(call)("/healthz") == 200
    assert async_to_sync(call)("/events/") == 204  # no session cookie: the polls take over
