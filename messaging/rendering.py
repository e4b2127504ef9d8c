"""Drawing many rows of one partial without paying Django's template engine per row.

A partial whose values are all ready strings (escaped by whoever made them) is rendered
once per *shape* of row, with a marker in place of each value; what comes out is cut at
the markers, and each row is then the literal pieces joined with its values. The markup
stays in the template, the engine runs a handful of times per request instead of once per
row, and what a row looks like cannot differ from the partial: it *is* the partial's output.

The partial may only place values (`{{ n.x }}`) and test them for truth (`{% if n.x %}`,
with the names given as `conditions`): no filters, tags or comparisons on them.
"""

from __future__ import annotations

from django.template.loader import get_template
from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe

MARK = "\x00"  # never in a value: message text and usernames refuse NUL


class RowTemplate:
    def __init__(self, name: str, *, var: str, fields: tuple[str, ...], conditions: tuple[str, ...] = (),
                 context: dict | None = None):
        # `context` must not change what the partial draws (the shapes are shared).
        self.template = get_template(name)
        self.var, self.fields, self.conditions = var, fields, conditions
        self.context = context or {}
        # Kept on the compiled template, so shapes are drawn once per process (a reloaded
        # template in development is a new object, with no shapes yet).
        compiled = getattr(self.template, "template", self.template)
        key = (var, fields, conditions)
        try:
            cache = compiled.__dict__.setdefault("_row_shapes", {})
        except AttributeError:
            cache = {}
        self.shapes: dict[tuple[bool, ...], tuple[list[str], list[str]]] = cache.setdefault(key, {})

    def _shape(self, key: tuple[bool, ...]):
        markers = {field: SafeString(f"{MARK}{field}{MARK}") for field in self.fields}
        for field, present in zip(self.conditions, key):
            if not present:
                markers[field] = ""
        parts = self.template.render({**self.context, self.var: markers}).split(MARK)
        shape = self.shapes[key] = (parts[0::2], parts[1::2])
        return shape

    def render(self, row: dict) -> str:
        key = tuple(bool(row[c]) for c in self.conditions)
        literals, names = self.shapes.get(key) or self._shape(key)
        out = [literals[0]]
        for name, literal in zip(names, literals[1:]):
            out.append(row[name])
            out.append(literal)
        return "".join(out)

    def render_all(self, rows) -> SafeString:
        return mark_safe("".join(self.render(row) for row in rows))


class TimeLabels:
    """A reader's labels for message times, exactly as date_format() words them, with
    date_format() (localised day and month names) called once per day shown instead of once
    per message: a page of replies spans few days, and those calls were most of a row's cost.
    `local`: an aware datetime already in the reader's zone; `today`: the reader's date."""

    def __init__(self, today):
        self.today = today
        self.days: dict = {}

    def _day(self, local) -> tuple[str, str, str]:
        key = (local.date(), local.utcoffset())  # the zone's name can change within a day (DST)
        day = self.days.get(key)
        if day is None:
            day = self.days[key] = (date_format(local, "j M"), date_format(local, "l j F Y"), date_format(local, "T"))
        return day

    def title(self, local) -> str:
        """As date_format(local, "l j F Y, H:i T"): the full date, time and zone (a tooltip)."""
        _, long_day, zone = self._day(local)
        return f"{long_day}, {local:%H:%M} {zone}"

    def short(self, local) -> str:
        """The clock time today, else as date_format(local, "j M, H:i")."""
        hm = f"{local:%H:%M}"
        return hm if local.date() == self.today else f"{self._day(local)[0]}, {hm}"
