"""The conversation's cached message list (cache_page), and what may be served from it.

The partial is cached with `cache_page`, keyed on the URL (which carries the
conversation version, so a copy is never older than the page that links to it), the
Cookie header (so only the browser that got it can hit it) and HX-Request. A hit is
handed out only while the session it was cached for is alive and the conversation
still exists, both read from the cache in one round trip: no database query, and
nothing cached survives a logout, a password change, an account deletion or expiry.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.cache import cache
from django.views.decorators.cache import cache_page
from django.views.decorators.vary import vary_on_cookie, vary_on_headers

from .sessions import cache_key as session_cache_key
from .sessions import live_session_user_id, session_key_of


def gone_key(conversation_id) -> str:
    return f"conversation-gone:{conversation_id}"


def forget_conversation(conversation_id: int) -> None:
    """A deleted conversation's cached pages are never served again (they expire by themselves).

    Marked at once, not after commit: a copy cached meanwhile expires before the mark
    does, and if the deletion rolls back the only cost is a few uncached requests."""
    cache.set(gone_key(conversation_id), True, settings.CACHE_MIDDLEWARE_SECONDS + 5)


def cached_per_session(view):
    """cache_page(60) for a view of one conversation, served only to a live session.

    The response always says `Cache-Control: private, no-store`: the server keeps the
    copy, no proxy or browser does (a browser cache would outlive a logout).
    """
    cached = cache_page(settings.CACHE_MIDDLEWARE_SECONDS)(vary_on_cookie(vary_on_headers("HX-Request")(view)))

    @functools.wraps(view)
    def wrapper(request, conversation_id, *args, **kwargs):
        session_key = session_key_of(request)
        usable = False
        if session_key:
            keys = [session_cache_key(session_key), gone_key(conversation_id)]
            found = cache.get_many(keys)
            usable = live_session_user_id(found.get(keys[0])) is not None and not found.get(keys[1])
        response = (cached if usable else view)(request, conversation_id, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        response.headers.pop("Expires", None)
        return response

    return wrapper


# --- The API's copy (messaging/api/views/conversations.py) ----------------------------------


def api_messages_key(user_id: int, conversation, query: str) -> str:
    return f"api-messages:{conversation.pk}:{conversation.version}:{user_id}:{query}"


def cached_api_messages(user, conversation, query: str, build):
    """The API's page of a conversation's messages, cached like the partial for 60 s.

    Never stale: the key holds the conversation version, which the caller has just read
    from the database (access.get_conversation_for), and every write raises it. Never
    another person's: the key holds the user. Never after the session or the token ends:
    a request reaches this only once DRF has authenticated it (the token row, or the
    session in the cache that a logout, password change or deletion clears) and access
    has found the conversation still theirs. `query` is the normalised page parameters.
    """
    key = api_messages_key(user.pk, conversation, query)
    data = cache.get(key)
    if data is None:
        data = build()
        cache.set(key, data, settings.CACHE_MIDDLEWARE_SECONDS)
    return data
