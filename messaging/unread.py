"""The unread badge count, answered from the cache.

Writes that change a count (send, read, delete) forget the key after commit. On
a shared cache (Redis) that makes every poll exact; on a per-process cache
(LocMemCache with several workers) another worker may hold an older count, so
there the count lives no longer than one poll interval (UNREAD_BADGE_TTL).
"""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from .models import Message


# A lost generation only costs a recount (a new one is random, never an old one).
GENERATION_TTL = 24 * 3600


def generation_key(user_id: int) -> str:
    return f"unread-badge-gen:{user_id}"


def badge_key(user_id: int, generation: str) -> str:
    return f"unread-badge:{user_id}:{generation}"


def _generation(user_id: int) -> str | None:
    """The user's current badge generation; None when the cache can't tell (it is down)."""
    key = generation_key(user_id)
    generation = cache.get(key)
    if generation is None:
        # Lost or never set: a fresh one, so no count stored before can be served.
        cache.add(key, uuid.uuid4().hex, GENERATION_TTL)
        generation = cache.get(key)
    return generation


def unread_badge_count(user) -> int:
    # The generation is read before counting. A write that commits while we count
    # moves the generation on, so what we store goes under a key nobody reads any
    # more: a poll that lost that race can never keep a stale count in the cache
    # (with a plain delete it did, for UNREAD_BADGE_TTL).
    generation = _generation(user.pk)
    if generation is None:
        return Message.unread.unread_count(user)
    key = badge_key(user.pk, generation)
    count = cache.get(key)
    if count is None:
        count = Message.unread.unread_count(user)
        cache.set(key, count, settings.UNREAD_BADGE_TTL)
    return count


def forget_badges(*user_ids: int) -> None:
    cache.set_many({generation_key(pk): uuid.uuid4().hex for pk in user_ids}, GENERATION_TTL)


def forget_badges_on_commit(*user_ids: int) -> None:
    """Forget now and again after commit: a poll that recounted in between, from
    the not yet committed state, must not keep its stale count."""
    forget_badges(*user_ids)
    transaction.on_commit(lambda: forget_badges(*user_ids))
