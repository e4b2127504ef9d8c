"""Keyset ("load more") pagination: no COUNT(*), no OFFSET, flat cost at any depth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet, Subquery

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


@dataclass
class AnchoredPage:
    """Rows newest first, and whether there may be more in each direction."""

    items: list
    has_older: bool
    has_newer: bool


def anchored_page(
    queryset: QuerySet,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
    field: str = "pk",
    anchors: QuerySet | None = None,
) -> AnchoredPage:
    """Rows ordered by (field, pk), newest first, anchored on a row id: the newest `size`,
    the `size` just older than `before`, or the `size` just newer than `after`.

    With a `field` other than pk the anchor's value is read in the same query (a
    subquery on `anchors`, the rows the reader may anchor on: an id of someone else's
    row finds nothing, and so tells nothing). Work is one indexed range read at any depth.
    """

    def beyond(anchor: int, direction: str) -> Q:
        if field == "pk":
            return Q(**{f"pk__{direction}": anchor})
        value = Subquery((anchors if anchors is not None else queryset).filter(pk=anchor).order_by().values(field)[:1])
        return Q(**{f"{field}__{direction}": value}) | Q(**{field: value, f"pk__{direction}": anchor})

    if after is not None:
        rows = list(queryset.filter(beyond(after, "gt")).order_by(field, "pk")[: size + 1])
        return AnchoredPage(rows[:size][::-1], has_older=True, has_newer=len(rows) > size)
    if before is not None:
        queryset = queryset.filter(beyond(before, "lt"))
    rows = list(queryset.order_by(f"-{field}", "-pk")[: size + 1])
    return AnchoredPage(rows[:size], has_older=len(rows) > size, has_newer=before is not None)


def parse_int(raw: str | None, default: int = 0) -> int:
    """A non-negative id or version from a query string; junk reads as the default."""
    try:
        value = int(raw or default)
    except (TypeError, ValueError):
        return default
    return value if 0 <= value < 2**63 else default
