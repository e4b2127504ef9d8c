"""The event stream: one Server-Sent Events stream per signed-in browser tab (ASGI)."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, StreamingHttpResponse

from .. import live, presence
from ..sessions import SessionStore, live_session_user_id, session_key_of


streams_key = presence.streams_key  # how many streams a user has open: also "online"


async def event_stream(request):
    """Events for the signed-in user: `conversation-<id>`, `inbox`, `unread`, `notifications`,
    `resync` (catch up on everything), `signed-out` (the session ended: the stream ends too).

    The stream touches the database once (who is this?) and then only the cache: an idle
    stream holds no database connection. Past LIVE_MAX_STREAMS per user, or when not signed
    in, the answer is 204 (EventSource then stops): the page's polls take over.
    """
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    session_key = session_key_of(request)
    user_id = await _signed_in_user_id(session_key) if session_key else None
    if user_id is None:
        return HttpResponse(status=204)
    key = streams_key(user_id)
    await cache.aadd(key, 0, settings.LIVE_HEARTBEAT_SECONDS * 3)
    try:
        open_streams = await cache.aincr(key)
    except ValueError:  # expired in between
        await cache.aset(key, 1, settings.LIVE_HEARTBEAT_SECONDS * 3)
        open_streams = 1
    if open_streams is not None and open_streams > settings.LIVE_MAX_STREAMS:
        await _leave(key)
        return HttpResponse(status=204)
    live.ensure_relay()
    await _heartbeat(user_id)  # a tab opened: online at once
    response = StreamingHttpResponse(_events(user_id, session_key, key), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _events(user_id: int, session_key: str, streams: str):
    handle = live.hub.subscribe(user_id)
    _, queue = handle
    try:
        # Ask the browser to come back quickly after a drop; the page then catches up.
        yield f"retry: {settings.LIVE_RETRY_MS}\n: hello\n\n".encode()
        loop = asyncio.get_running_loop()
        last_beat = loop.time()
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=settings.LIVE_HEARTBEAT_SECONDS)
            except TimeoutError:
                # The session ended (logout, password change, deletion, expiry): so does the stream.
                if await _signed_in_user_id(session_key) != user_id:
                    yield live.Event("signed-out").encode()
                    return
                await cache.atouch(streams, settings.LIVE_HEARTBEAT_SECONDS * 3)
                await _heartbeat(user_id)
                last_beat = loop.time()
                # Proxies close idle connections; the page learns the stream is alive.
                yield b"event: ping\ndata: \n\n"
                continue
            yield event.encode()
            if loop.time() - last_beat >= settings.LIVE_HEARTBEAT_SECONDS:
                # A busy stream never times out into a ping: it beats between its events.
                await cache.atouch(streams, settings.LIVE_HEARTBEAT_SECONDS * 3)
                await _heartbeat(user_id)
                last_beat = loop.time()
    finally:
        live.hub.unsubscribe(user_id, handle)
        await _leave(streams)


async def _signed_in_user_id(session_key: str) -> int | None:
    """Whose live session this is: a cache read, or the database when the cache lost it.

    Read the session directly rather than through request.user: the stream needs only the
    id. Run on the shared sync thread (site_config.asgi.EventStreamHandler), whose one
    connection, if a miss opened one, closes at the next request signal (CONN_MAX_AGE=0):
    an open stream holds none."""
    return await sync_to_async(lambda: live_session_user_id(SessionStore(session_key).load()))()


async def _heartbeat(user_id: int) -> None:
    """The tab is open (presence.heartbeat: the cache, and the database at most once a minute)."""
    await sync_to_async(presence.heartbeat)(user_id)


async def _leave(key: str) -> None:
    try:
        left = await cache.adecr(key)
        if left is not None and left < 0:
            await cache.aset(key, 0, settings.LIVE_HEARTBEAT_SECONDS * 3)
    except ValueError:  # the counter expired: nothing to give back
        pass
