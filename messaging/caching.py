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
from django.core.cache import cache, caches
from django.utils.cache import _generate_cache_header_key, _generate_cache_key  # cache_page's own keys
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

    A hit costs one cache round trip: with the session and the conversation's mark, the
    same read fetches cache_page's two keys (its list of Vary headers and, by the list
    this view's responses have had so far, the page under it). The page is used only
    when the list read back is that list, so it is the very copy cache_page would have
    found; otherwise cache_page looks it up itself (two more round trips).
    """
    cached = cache_page(settings.CACHE_MIDDLEWARE_SECONDS)(vary_on_cookie(vary_on_headers("HX-Request")(view)))
    seen_headers: list = []  # the Vary header list cache_page last stored for this view (one per process)

    @functools.wraps(view)
    def wrapper(request, conversation_id, *args, **kwargs):
        session_key = session_key_of(request)
        response = None
        usable = False
        if session_key:
            page_cache = caches[settings.CACHE_MIDDLEWARE_ALIAS]
            prefix = settings.CACHE_MIDDLEWARE_KEY_PREFIX
            keys = [session_cache_key(session_key), gone_key(conversation_id)]
            header_key = page_key = None
            guess = list(seen_headers)  # as it is now: another thread may change it meanwhile
            if request.method == "GET":
                header_key = _generate_cache_header_key(prefix, request)
                keys.append(header_key)
                if guess:
                    page_key = _generate_cache_key(request, "GET", guess, prefix)
                    keys.append(page_key)
            found = page_cache.get_many(keys)
            usable = live_session_user_id(found.get(keys[0])) is not None and not found.get(keys[1])
            if usable and header_key:
                headers = found.get(header_key)
                if headers is not None and guess and headers == guess:
                    response = found.get(page_key)
                elif headers is not None:
                    seen_headers[:] = headers
        if response is None:
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
