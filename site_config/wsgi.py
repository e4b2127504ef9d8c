"""The WSGI application: every request but the hot paths' goes through the whole middleware
chain; the hot paths (settings.HOT_PATHS: the badge poll and the cached conversation partial,
GET-only) through settings.HOT_PATH_MIDDLEWARE, which drops only what they never use."""

import os
import re

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")


def hot_path_handler(handler_class=WSGIHandler, *args, **kwargs):
    """A handler of `handler_class` whose middleware chain is settings.HOT_PATH_MIDDLEWARE.

    Django builds a handler's chain from settings.MIDDLEWARE once, when the handler is made;
    here the setting is the hot list for that moment (at start-up: one thread)."""
    from django.conf import settings

    full = settings.MIDDLEWARE
    settings.MIDDLEWARE = settings.HOT_PATH_MIDDLEWARE
    try:
        handler = handler_class(*args, **kwargs)
        if getattr(handler, "_middleware_chain", None) is None:  # the test client's loads lazily
            handler.load_middleware()
        return handler
    finally:
        settings.MIDDLEWARE = full


def dispatching(full, hot, hot_paths: str):
    paths = re.compile(hot_paths)

    def application(environ, start_response):
        handler = hot if paths.match(environ.get("PATH_INFO", "")) else full
        return handler(environ, start_response)

    return application


def build():
    from django.conf import settings

    full = get_wsgi_application()  # sets Django up
    hot_paths = getattr(settings, "HOT_PATHS", None)
    if not hot_paths:  # another project served this way (the load test's bare app)
        return full
    return dispatching(full, hot_path_handler(), hot_paths)


application = build()
