"""Word-level differences between consecutive versions of a message, for the history drawer."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .models import Message

TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass
class Chunk:
    text: str
    change: str  # "same", "added" or "removed"


@dataclass
class Version:
    content: str
    at: object
    by: object
    is_current: bool
    chunks: list[Chunk]


def word_diff(old: str, new: str) -> list[Chunk]:
    a, b = TOKEN.findall(old), TOKEN.findall(new)
    chunks: list[Chunk] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            chunks.append(Chunk("".join(b[j1:j2]), "same"))
            continue
        if op in ("delete", "replace"):
            chunks.append(Chunk("".join(a[i1:i2]), "removed"))
        if op in ("insert", "replace"):
            chunks.append(Chunk("".join(b[j1:j2]), "added"))
    return chunks


def history_versions(message: Message) -> list[Version]:
    """The current text then every earlier one, newest first; each marks what it changed
    relative to the version before it."""
    earlier = list(message.history.select_related("edited_by").order_by("-edited_at", "-pk"))
    texts = [message.content] + [h.old_content for h in earlier]
    times = [earlier[0].edited_at if earlier else message.timestamp] + [
        earlier[i + 1].edited_at if i + 1 < len(earlier) else message.timestamp for i in range(len(earlier))
    ]
    versions = []
    for index, text in enumerate(texts):
        previous = texts[index + 1] if index + 1 < len(texts) else None
        chunks = word_diff(previous, text) if previous is not None else [Chunk(text, "same")]
        versions.append(Version(text, times[index], message.sender, index == 0, chunks))
    return versions
