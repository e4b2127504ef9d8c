import asyncio
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

django_application = get_asgi_application()


async def application(scope, receive, send):
    """Django, and a quiet end for event streams that a server shutdown cuts.

    On shutdown uvicorn waits for open responses, then cancels them: for an event stream
    that is the normal end (the browser reconnects, to another worker or host, and catches
    up), not an error to log.
    """
    try:
        await django_application(scope, receive, send)
    except asyncio.CancelledError:
        if scope.get("type") == "http" and scope.get("path", "").endswith("/events/"):
            return
        raise
