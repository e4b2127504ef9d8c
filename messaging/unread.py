"""The unread badge count, answered from the cache.

Writes that change a count (send, read, delete) forget the key after commit. On
a shared cache (Redis) that makes every poll exact; on a per-process cache
(LocMemCache with several workers) another worker may hold an older count, so
there the count lives no longer than one poll interval (UNREAD_BADGE_TTL).
"""

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from .models import Message


def badge_key(user_id: int) -> str:
    return f"unread-badge:{user_id}"


def unread_badge_count(user) -> int:
    key = badge_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = Message.unread.unread_count(user)
        cache.set(key, count, settings.UNREAD_BADGE_TTL)
    return count


def forget_badges(*user_ids: int) -> None:
    cache.delete_many([badge_key(pk) for pk in user_ids])


def forget_badges_on_commit(*user_ids: int) -> None:
    """Forget now and again after commit: a poll that recounted in between, from
    the not yet committed state, must not keep its stale count."""
    forget_badges(*user_ids)
    transaction.on_commit(lambda: forget_badges(*user_ids))
