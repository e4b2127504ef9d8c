"""Fixed-window rate limits kept in the cache, per user (or per IP when anonymous)."""

import hashlib

from django.conf import settings
from django.core.cache import cache


def client_key(request) -> str:
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"ip:{request.META.get('REMOTE_ADDR', 'unknown')}"


def rate_limited(request, scope: str, *, key: str | None = None) -> bool:
    """Count this request against `scope`; True when over the limit for the window.

    Each client has its own counter, so one noisy client never locks out another.
    If the cache is down, nobody is limited (the cache backend logs the outage).
    """
    limit, window = settings.RATE_LIMITS[scope]
    # Hashed: the key may hold whatever a user typed (spaces, NUL, 150 characters of emoji).
    digest = hashlib.blake2b((key or client_key(request)).encode(), digest_size=16).hexdigest()
    cache_key = f"ratelimit:{scope}:{digest}"
    if cache.add(cache_key, 1, window):
        return False
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        cache.add(cache_key, 1, window)
        return False
    if count is None:  # the cache is down and said nothing (django-redis IGNORE_EXCEPTIONS)
        return False
    return count > limit
