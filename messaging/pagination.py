"""Keyset ("load more") pagination: no COUNT(*), no OFFSET, flat cost at any depth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet

PAGE_SIZE = 50


@dataclass
class Page:
    items: list
    next_cursor: str | None
    # True for the first page (no cursor given): only it says "nothing here" when empty.
    is_first: bool = True

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None


def parse_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """`<iso time>_<pk>`; anything malformed means "from the start" rather than an error."""
    if not raw:
        return None
    when, _, pk = raw.rpartition("_")
    try:
        # Normalised to UTC here: an offset at the edge of the calendar
        # (9999-12-31T23:59-23:59) would otherwise overflow in the database (a 500).
        when = datetime.fromisoformat(when)
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
        return when, int(pk)
    except (ValueError, OverflowError):
        return None


def keyset_page(queryset: QuerySet, *, field: str, cursor: str | None, size: int = PAGE_SIZE) -> Page:
    """Rows ordered by (field desc, pk desc) after `cursor`, at most `size` of them."""
    position = parse_cursor(cursor)
    if position is not None:
        when, pk = position
        queryset = queryset.filter(Q(**{f"{field}__lt": when}) | Q(**{field: when, "pk__lt": pk}))
    rows = list(queryset.order_by(f"-{field}", "-pk")[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = f"{getattr(last, field).isoformat()}_{last.pk}"
    return Page(rows, next_cursor, is_first=not cursor)


def parse_int(raw: str | None, default: int = 0) -> int:
    """A non-negative id or version from a query string; junk reads as the default."""
    try:
        value = int(raw or default)
    except (TypeError, ValueError):
        return default
    return value if 0 <= value < 2**63 else default
