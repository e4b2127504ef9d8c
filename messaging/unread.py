"""The unread badge count, answered from the cache.

Writes that change a count (send, read, delete) forget the key after commit. On
a shared cache (Redis) that makes every poll exact; on a per-process cache
(LocMemCache with several workers) another worker may hold an older count, so
there the count lives no longer than one poll interval (UNREAD_BADGE_TTL).
"""

import functools
import hashlib
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction

from . import live, presence
from .models import Conversation
from .sessions import cache_key as session_cache_key
from .sessions import live_session_user_id, session_key_of


# A lost generation only costs a recount (a new one is random, never an old one).
GENERATION_TTL = 24 * 3600


def generation_key(user_id: int) -> str:
    return f"unread-badge-gen:{user_id}"


def badge_key(user_id: int) -> str:
    return f"unread-badge:{user_id}"


def _generation(user_id: int) -> str | None:
    """The user's current badge generation; None when the cache can't tell (it is down)."""
    key = generation_key(user_id)
    generation = cache.get(key)
    if generation is None:
        # Lost or never set: a fresh one, so no count stored before can be served.
        cache.add(key, uuid.uuid4().hex, GENERATION_TTL)
        generation = cache.get(key)
    return generation


@dataclass(frozen=True)
class UnreadCounts:
    messages: int  # the badge
    notifications: int  # the Notifications link


def _count(user_id: int) -> UnreadCounts:
    """Both counts in one query, summed from the kept counts of the user's conversations
    (Conversation.unread_*, notif_*): the cost is one row per conversation, not per message."""
    return UnreadCounts(*Conversation.objects.unread_totals(user_id))


def unread_counts(user, *, found: dict | None = None) -> UnreadCounts:
    """What `user`'s badge and Notifications link show (a user or a user id): one cache
    round trip on a hit (none with `found`, the user's keys already read with get_many).

    The counts are stored with the generation they were counted under, and served only
    while that is still the user's generation. A write moves the generation on after it
    commits, so a poll that counted while a write was committing stores counts nobody is
    served (with a plain delete it was, for UNREAD_BADGE_TTL).
    """
    user = getattr(user, "pk", user)
    if found is None:
        found = cache.get_many([generation_key(user), badge_key(user)])
    generation = found.get(generation_key(user)) or _generation(user)
    if generation is None:  # the cache is down: count every time
        return _count(user)
    stored = found.get(badge_key(user))
    if isinstance(stored, tuple) and len(stored) == 3 and stored[0] == generation:
        return UnreadCounts(stored[1], stored[2])
    counts = _count(user)
    cache.set(badge_key(user), (generation, counts.messages, counts.notifications), settings.UNREAD_BADGE_TTL)
    return counts


def unread_badge_count(user, *, found: dict | None = None) -> int:
    """The count on the badge: the user's unread messages."""
    return unread_counts(user, found=found).messages


def forget_badges(*user_ids: int) -> None:
    cache.set_many({generation_key(pk): uuid.uuid4().hex for pk in user_ids}, GENERATION_TTL)


def forget_badges_on_commit(*user_ids: int) -> None:
    """Forget now and again after commit: a poll that recounted in between, from
    the not yet committed state, must not keep its stale count. After commit the
    users' open pages are told their count changed (live event `unread`)."""
    forget_badges(*user_ids)

    def after_commit():
        forget_badges(*user_ids)
        live.publish(user_ids, "unread")

    transaction.on_commit(after_commit)


# --- The badge token -------------------------------------------------------------------------
# Every open tab polls the badge, so the poll skips the two lookups that authenticating a
# request costs (the session row, the user row). The page hands the badge a signed,
# short-lived statement of whose badge it is and for which session, sent back in a header
# (never in a URL, so never in a log). It grants nothing but that one number, and only
# together with that session's cookie while the session is alive: the session is read
# from the cache in the same round trip as the count. Once the token expires, or the
# session is not in the cache, the poll is an ordinary login-required request, which
# checks the session and hands out a new token.
BADGE_TOKEN_SALT = "messaging.unread-badge.v2"
BADGE_TOKEN_HEADER = "X-Badge-Token"


def _fingerprint(session_key: str) -> str:
    return hashlib.blake2b(session_key.encode(), digest_size=12).hexdigest()


def badge_token(user_id: int, session_key: str) -> str:
    return signing.dumps([user_id, _fingerprint(session_key)], salt=BADGE_TOKEN_SALT)


def _token_user_id(token: str | None, session_key: str) -> int | None:
    """The user id a valid, unexpired token speaks for, if it was issued to this session."""
    if not token or len(token) > 200:
        return None
    verified = _verified_token(token)
    if verified is None or time.time() - verified[2] > settings.UNREAD_BADGE_TOKEN_MAX_AGE:
        return None  # tampered, malformed or expired
    user_id, fingerprint, _ = verified
    return user_id if fingerprint == _fingerprint(session_key) else None


@functools.lru_cache(maxsize=4096)
def _verified_token(token: str) -> tuple[int, str, int] | None:
    """(user id, session fingerprint, time signed) of a token whose signature holds, else None.

    A tab sends the same token with every poll until it expires, so each process checks a
    token's signature once (signing's key derivation and HMAC were a fifth of a poll's time);
    its age is checked on every poll, by the caller."""
    signer = signing.TimestampSigner(salt=BADGE_TOKEN_SALT)  # as signing.dumps() signs
    try:
        value = signer.unsign_object(token, serializer=signing.JSONSerializer)
        signed_at = signing.b62_decode(token.rsplit(signer.sep, 2)[1])  # payload:timestamp:signature
    except (signing.BadSignature, ValueError):
        return None
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and isinstance(value[1], str)):
        return None
    return value[0], value[1], signed_at


def badge_count_for_token(request) -> UnreadCounts | None:
    """The badge count for a poll with a token bound to its live session; None to fall back."""
    session_key = session_key_of(request)
    user_id = _token_user_id(request.headers.get(BADGE_TOKEN_HEADER), session_key) if session_key else None
    if user_id is None:
        return None
    keys = [session_cache_key(session_key), generation_key(user_id), badge_key(user_id), presence.presence_key(user_id)]
    found = cache.get_many(keys)
    if live_session_user_id(found.get(keys[0])) != user_id:
        return None  # logged out, password changed, account deleted, expired, or not cached
    # The open tab's heartbeat: read in the same round trip, written at most once a minute.
    presence.heartbeat(user_id, found=found)
    return unread_counts(user_id, found=found)
