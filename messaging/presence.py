"""Who is online: the open tab's heartbeat, kept in the cache, written to the database at
most once a minute, and read back as "online" or "last seen …".

The heartbeat is what an open tab does anyway: its badge poll (views/badge.py) and its
event stream's ping (views/events.py). Each beat sets one cache key per user, (last seen,
last written); only when the last write is PRESENCE_WRITE_SECONDS old does it write
`Profile.last_seen` (actions.record_presence: an UPDATE … WHERE last_seen < now - 60 s, so
two tabs beating at once still write once). An ordinary page request writes nothing.
Going offline writes nothing either: a person is online while they have an open stream
or were seen within PRESENCE_ONLINE_SECONDS; after that they were "last seen".

Privacy: a person who turned "Show when I'm online" off shows nothing to anyone, not even
a last-seen time; and, as in most messengers, they see nobody else's either (`visible`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

logger = logging.getLogger("messaging")

# A week: long enough that "last seen" survives in the cache between visits; the
# database has it anyway (to the minute).
CACHE_TTL = 7 * 24 * 3600


def now() -> float:
    """The time presence goes by (tests move it)."""
    return time.time()


def presence_key(user_id: int) -> str:
    return f"presence:{user_id}"


def streams_key(user_id: int) -> str:
    """The count of the user's open event streams (views/events.py keeps it)."""
    return f"live-streams:{user_id}"


def _stored(value) -> tuple[float, float] | None:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return value
    return None


def heartbeat(user_id: int, *, found: dict | None = None) -> bool:
    """The user's tab is open now. A cache write at most once per PRESENCE_BEAT_SECONDS
    (several tabs, or polls in quick succession, would otherwise each write the same "now"),
    a database write at most once per PRESENCE_WRITE_SECONDS (per user, whatever the number
    of tabs). `found`: the user's keys already read (cache.get_many), so the badge poll's
    one round trip stays one. Returns whether it wrote to the database."""
    from . import actions

    key = presence_key(user_id)
    stored = _stored(found.get(key) if found is not None else cache.get(key))
    at = now()
    last_written = stored[1] if stored else 0.0
    write = at - last_written >= settings.PRESENCE_WRITE_SECONDS
    if stored and not write and 0 <= at - stored[0] < settings.PRESENCE_BEAT_SECONDS:
        return False  # seen moments ago: "online" already says so
    cache.set(key, (at, at if write else last_written), CACHE_TTL)
    if write:
        try:
            actions.record_presence(user_id, at=datetime.fromtimestamp(at, UTC))
        except DatabaseError as error:  # a lost database must not fail the badge poll or the stream
            logger.warning("presence: could not record %s: %s", user_id, error)
            return False
    return write


@dataclass(frozen=True)
class Presence:
    online: bool
    last_seen: datetime | None


def profile_of(person):
    """The person's profile if it was loaded with them (select_related), else None: never a query."""
    state = getattr(person, "_state", None)
    return state.fields_cache.get("profile") if state is not None else None


def shows_presence(person) -> bool:
    profile = profile_of(person)
    return profile is not None and profile.show_online


def visible(person, *, viewer) -> bool:
    """Whether `viewer` may see `person`'s presence: both keep "Show when I'm online" on
    (you see others' presence only while you show yours). Nobody's own presence is shown to them."""
    if person is None or viewer is None or person.pk == viewer.pk:
        return False
    return shows_presence(person) and shows_presence(viewer)


def attach(people, *, viewer) -> None:
    """Set `presence` (a Presence, or None where it is hidden) on each person, with one
    cache round trip for them all. Their profiles come with them (select_related)."""
    people = [p for p in people if p is not None]
    _attach(people, {p.pk for p in people if visible(p, viewer=viewer)})


def attach_unfiltered(people) -> None:
    """The admin's view: everyone's presence, whatever their switch (staff see the truth)."""
    people = [p for p in people if p is not None]
    _attach(people, {p.pk for p in people if profile_of(p) is not None})


def _attach(people, shown: set[int]) -> None:
    found = cache.get_many([k for pk in shown for k in (presence_key(pk), streams_key(pk))]) if shown else {}
    current = now()
    for person in people:
        if person.pk not in shown:
            person.presence = None
            continue
        stored = _stored(found.get(presence_key(person.pk)))
        seen = stored[0] if stored else None
        profile_seen = profile_of(person).last_seen
        if profile_seen is not None:
            seen = max(seen or 0.0, profile_seen.timestamp())
        streams = found.get(streams_key(person.pk))
        online = (isinstance(streams, int) and streams > 0) or (
            seen is not None and current - seen <= settings.PRESENCE_ONLINE_SECONDS
        )
        person.presence = Presence(online=online, last_seen=datetime.fromtimestamp(seen, UTC) if seen else None)


def presence_of(person, *, viewer) -> Presence | None:
    attach([person], viewer=viewer)
    return person.presence
