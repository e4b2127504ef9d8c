"""Word-level differences between consecutive versions of a message, for the history drawer.

The diff is diff-match-patch's (Myers' O(ND) algorithm with a deadline) over words:
each word, space run or punctuation mark becomes one character, so the work is
bounded by the deadline however the text was edited. A 5,000-character rewrite that
would take difflib seconds is answered in milliseconds, as a coarser diff if the
deadline is reached (`manage.py bench`, history scenario).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from diff_match_patch import diff_match_patch

TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
# Seconds one diff may take before it settles for a coarser answer.
DIFF_DEADLINE = 0.02
# Supplementary private use planes: 130,000 code points, more than the distinct words
# two versions of a 5,000-character message can hold.
TOKEN_BASE = 0xF0000


@dataclass
class Chunk:
    text: str
    change: str  # "same", "added" or "removed"


def _encode(tokens: list[str], codes: dict[str, str]) -> str:
    return "".join(codes.setdefault(token, chr(TOKEN_BASE + len(codes))) for token in tokens)


def word_diff(old: str, new: str, *, deadline: float = DIFF_DEADLINE) -> list[Chunk]:
    """What changed from `old` to `new`, word by word, in time bounded by `deadline` seconds."""
    deadline = max(deadline, 0.001)  # diff-match-patch reads 0 as "no deadline"
    codes: dict[str, str] = {}
    a, b = _encode(TOKEN.findall(old), codes), _encode(TOKEN.findall(new), codes)
    words = {code: token for token, code in codes.items()}
    differ = diff_match_patch()
    differ.Diff_Timeout = deadline
    diffs = differ.diff_main(a, b, checklines=False)
    differ.diff_cleanupSemantic(diffs)
    kinds = {0: "same", 1: "added", -1: "removed"}
    return [Chunk("".join(words[c] for c in text), kinds[op]) for op, text in diffs if text]
