"""The event stream: one Server-Sent Events stream per signed-in browser tab (ASGI)."""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, StreamingHttpResponse

from .. import live
from ..sessions import SessionStore, live_session_user_id, session_key_of


def streams_key(user_id: int) -> str:
    return f"live-streams:{user_id}"


async def event_stream(request):
    """Events for the signed-in user: `conversation-<id>`, `inbox`, `unread`, `notifications`,
    `resync` (catch up on everything), `signed-out` (the session ended: the stream ends too).

    The stream touches the database once (who is this?) and then only the cache: an idle
    stream holds no database connection. Past LIVE_MAX_STREAMS per user, or when not signed
    in, the answer is 204 (EventSource then stops): the page's polls take over.
    """
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    user = await request.auser()
    session_key = session_key_of(request)
    if not user.is_authenticated or not session_key:
        return HttpResponse(status=204)
    key = streams_key(user.pk)
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
    response = StreamingHttpResponse(_events(user.pk, session_key, key), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _events(user_id: int, session_key: str, streams: str):
    handle = live.hub.subscribe(user_id)
    _, queue = handle
    try:
        # Ask the browser to come back quickly after a drop; the page then catches up.
        yield f"retry: {settings.LIVE_RETRY_MS}\n: hello\n\n".encode()
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=settings.LIVE_HEARTBEAT_SECONDS)
            except TimeoutError:
                # The session ended (logout, password change, deletion, expiry): so does the stream.
                if live_session_user_id(await SessionStore(session_key).aload()) != user_id:
                    yield live.Event("signed-out").encode()
                    return
                await cache.atouch(streams, settings.LIVE_HEARTBEAT_SECONDS * 3)
                # Proxies close idle connections; the page learns the stream is alive.
                yield b"event: ping\ndata: \n\n"
                continue
            yield event.encode()
    finally:
        live.hub.unsubscribe(user_id, handle)
        await _leave(streams)


async def _leave(key: str) -> None:
    try:
        left = await cache.adecr(key)
        if left is not None and left < 0:
            await cache.aset(key, 0, settings.LIVE_HEARTBEAT_SECONDS * 3)
    except ValueError:  # the counter expired: nothing to give back
        pass
