"""Sessions: Django's cached_db store, with the user of each session recorded.

- Knowing whose session a row is lets a password change or an account deletion end
  every session of that account at once (not just the one it was made in), from the
  cache and the database together.
- The cache holds each live session (cached_db). A cached page or badge count is only
  handed to a request whose session is still in it: logging out, a password change
  elsewhere, deleting the account or expiry remove it, so one cache read proves a
  session is alive without a database query. This needs one cache shared by every
  process (Redis), or a single process (the embedded default): see README, "Serving".
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.core.cache import caches


class SessionStore(CachedDBStore):
    @classmethod
    def get_model_class(cls):
        from .models import UserSession

        return UserSession

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        try:
            session.user_id = int(data.get(SESSION_KEY))
        except (TypeError, ValueError):
            session.user_id = None
        return session


def session_cache():
    return caches[settings.SESSION_CACHE_ALIAS]


def cache_key(session_key: str) -> str:
    return KEY_PREFIX + session_key


def session_key_of(request) -> str | None:
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    # Django's session keys are 32 lower-case letters and digits; anything else is nobody's.
    return key if key and len(key) <= 64 and key.isalnum() else None


def live_session_user_id(data) -> int | None:
    """The user a live session's cached data speaks for (None: not signed in, or no data)."""
    if not isinstance(data, dict):
        return None
    try:
        return int(data.get(SESSION_KEY))
    except (TypeError, ValueError):
        return None


def end_sessions(user_id: int, *, keep: str | None = None) -> int:
    """End every session of the user (but `keep`) in the cache and the database; how many."""
    from .models import UserSession

    sessions = UserSession.objects.filter(user_id=user_id)
    if keep:
        sessions = sessions.exclude(session_key=keep)
    keys = list(sessions.values_list("session_key", flat=True))
    if keys:
        session_cache().delete_many([cache_key(key) for key in keys])
        UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)
