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
