"""Live updates: small facts published after commit, fanned out to the open event streams.

An event names what changed for one user ("conversation-12" with its version, "inbox",
"unread", "notifications"); it never carries what a page shows. The page reacts with
ordinary htmx requests to the views, which decide what the user may see.

Fan-out:
- the embedded default (one process, no REDIS_URL): an in-process hub;
- with REDIS_URL: every process publishes to one Redis channel and holds one
  subscription to it (not one per stream), and its hub delivers to its own streams.
  After the subscription is lost and back, every stream is told to `resync`, so pages
  catch up on what they missed (events are facts about versions: fetching "since my
  version" is always enough).
Publishing never fails a write: an unreachable Redis is logged, and the polls, which
stay as the safety net, catch up.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

logger = logging.getLogger("messaging.live")

# Events every stream gets when its page may have missed something.
RESYNC = "resync"


@dataclass(frozen=True)
class Event:
    name: str
    data: str = ""
    id: int = 0

    def encode(self) -> bytes:
        lines = [f"id: {self.id}", f"event: {self.name}", f"data: {self.data}"]
        return ("\n".join(lines) + "\n\n").encode()


class Hub:
    """This process's open streams, by user. Safe to publish to from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._streams: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = defaultdict(set)
        self._ids = itertools.count(1)

    def subscribe(self, user_id: int) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue]:
        """Called from the stream's event loop; returns the handle to unsubscribe with."""
        handle = (asyncio.get_running_loop(), asyncio.Queue(maxsize=settings.LIVE_QUEUE_SIZE))
        with self._lock:
            self._streams[user_id].add(handle)
        return handle

    def unsubscribe(self, user_id: int, handle) -> None:
        with self._lock:
            streams = self._streams.get(user_id)
            if streams is not None:
                streams.discard(handle)
                if not streams:
                    del self._streams[user_id]

    def stream_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._streams.values())

    def deliver(self, user_ids, name: str, data: str = "") -> None:
        event = Event(name, data, next(self._ids))
        with self._lock:
            handles = [h for user_id in user_ids for h in self._streams.get(user_id, ())]
        for loop, queue in handles:
            try:
                loop.call_soon_threadsafe(_put, queue, event)
            except RuntimeError:  # that stream's loop has closed
                pass

    def deliver_to_all(self, name: str) -> None:
        with self._lock:
            user_ids = list(self._streams)
        self.deliver(user_ids, name)


def _put(queue: asyncio.Queue, event: Event) -> None:
    try:
        queue.put_nowait(event)
    except asyncio.QueueFull:
        # A stream this far behind only needs to know it must catch up.
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(Event(RESYNC, "", event.id))


hub = Hub()


# --- Publishing -------------------------------------------------------------------------------


def channel() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'dm')}:live"


_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    return _redis_client


def publish(user_ids, name: str, data="") -> None:
    """Tell these users' open streams that `name` happened (now: call it after commit)."""
    user_ids = sorted({int(u) for u in user_ids if u is not None})
    if not user_ids:
        return
    if not settings.REDIS_URL:
        hub.deliver(user_ids, name, str(data))
        return
    try:
        _redis().publish(channel(), json.dumps([user_ids, name, str(data)]))
    except Exception as error:  # noqa: BLE001 - a lost event is caught up by the polls
        logger.warning("live: could not publish %s: %s", name, error)


def publish_on_commit(user_ids, name: str, data="") -> None:
    user_ids = list(user_ids)
    transaction.on_commit(lambda: publish(user_ids, name, data))


def conversation_event(conversation_id: int) -> str:
    return f"conversation-{conversation_id}"


# --- One Redis subscription per process ----------------------------------------------------------

_relay_lock = threading.Lock()
# The relay task of each event loop (held here: asyncio keeps only weak references to tasks).
_relays: dict[int, asyncio.Task] = {}


def ensure_relay() -> None:
    """With Redis, make sure this event loop relays the channel into the hub (once per loop)."""
    if not settings.REDIS_URL:
        return
    loop = asyncio.get_running_loop()
    with _relay_lock:
        task = _relays.get(id(loop))
        if task is not None and not task.done():
            return
        _relays[id(loop)] = loop.create_task(_relay(loop))


async def _relay(loop) -> None:
    import redis.asyncio as aioredis

    first = True
    backoff = 0.5
    while True:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(channel())
                if not first:
                    logger.info("live: subscription back; streams catch up")
                    hub.deliver_to_all(RESYNC)
                first, backoff = False, 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        user_ids, name, data = json.loads(message["data"])
                    except (ValueError, TypeError):
                        continue
                    hub.deliver(user_ids, name, data)
        except asyncio.CancelledError:
            with _relay_lock:
                _relays.pop(id(loop), None)
            raise
        except Exception as error:  # noqa: BLE001 - keep relaying once Redis is back
            logger.warning("live: subscription lost (%s); retrying in %.1fs", error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)
        finally:
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001
                pass
