"""The ASGI application `make serve` and `make run` serve (uvicorn).

Two doors into one Django project:
- the event stream (`/events/`): Django's ASGI handler and an async view, so thousands of
  open streams cost one asyncio task each;
- every other request: Django's WSGI handler, run in a pool of threads. Django's own ASGI
  handler would give every request a new thread and hop between the event loop and a
  thread twice for each of our (sync) middleware; here a request makes one hop, and the
  threads live on, so their database connections are reused (CONN_MAX_AGE).
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from asgiref.wsgi import WsgiToAsgi, WsgiToAsgiInstance
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

from site_config.wsgi import application as wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

get_asgi_application()  # sets Django up
EVENTS_PATH = "/events/"
THREADS = int(os.environ.get("WEB_THREADS", "2"))  # page requests at once per process (the GIL: more adds latency)


class EventStreamHandler(ASGIHandler):
    """Django's ASGI handler for the event stream alone.

    Django gives each request a thread of its own for its sync parts (middleware, signal
    receivers), kept until the response ends: for a stream open for hours, one idle thread
    per tab. Every stream's few sync steps (the middleware as it opens, the request
    signals) share one thread instead, and the stream itself is pure asyncio.
    """

    async def __call__(self, scope, receive, send):
        async with ThreadSensitiveContext(executor=_stream_thread):
            await self.handle(scope, receive, send)


_stream_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events")


_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="django")


class _PooledWsgiInstance(WsgiToAsgiInstance):
    run_wsgi_app = SyncToAsync(WsgiToAsgiInstance.__dict__["run_wsgi_app"].func, thread_sensitive=False, executor=_pool)


class PooledWsgiToAsgi(WsgiToAsgi):
    async def __call__(self, scope, receive, send):
        await _PooledWsgiInstance(self.wsgi_application, self.duplicate_header_limit)(scope, receive, send)


events_application = EventStreamHandler()
# The hot paths take a shorter middleware chain (site_config/wsgi.py).
pages_application = PooledWsgiToAsgi(wsgi_application)


async def application(scope, receive, send):
    if scope["type"] == "lifespan":  # nothing to start or stop
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        raise ValueError(f"unsupported ASGI scope {scope['type']!r}")
    if scope["path"] == EVENTS_PATH:
        try:
            await events_application(scope, receive, send)
        except asyncio.CancelledError:
            # On shutdown uvicorn waits for open responses, then cancels them: for an event
            # stream that is the normal end (the browser reconnects, to another worker or
            # host, and catches up), not an error to log.
            return
        return
    await pages_application(scope, receive, send)
