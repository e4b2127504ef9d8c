"""Full-text search of messages: the query language (the same on every database) and each database's index.

What people type is parsed here, once, into words: anything that is not a letter or a
digit separates words, on both databases (the index splits the text the same way).
The syntax is the web's: all words must appear; "a phrase" in quotes; -word leaves out
what has it; `or` between words. Quotes left open, stray dashes, `*`, `NEAR` or markup are
just words or separators; nothing typed is ever an error. User text never reaches the
database as syntax: FTS5 gets a MATCH expression built from double-quoted words, and
PostgreSQL gets websearch_to_tsquery of a text rebuilt from the parsed words.

PostgreSQL: a stored generated `tsvector` column (`messaging_message.search_vector`,
the 'simple' configuration: no stemming, no stop words, any language) with a GIN index,
matched with websearch_to_tsquery and ranked with ts_rank (django.contrib.postgres).

SQLite: an FTS5 table (`messaging_message_fts`, contentless) kept in sync by triggers. It
also indexes who may see each row (`scope`: "u<sender> u<receiver> c<conversation>"),
so a search reads the doclist of the reader's own messages, not everybody's: its cost
follows the reader's messages, not the size of the database. Its rank is computed by a
small SQL function (`dm_search_rank`), as bm25() would scan every row with the word.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from django.db import connections
from django.db.models import F, FloatField, Func, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

MAX_QUERY_LENGTH = 200
# More words than this are ignored (a search of 200 characters stays one cheap query).
MAX_TERMS = 16

# A word: letters and digits (any script); everything else separates words.
WORD = re.compile(r"[^\W_]+")
# A chunk of the query: a quoted phrase (maybe negated, maybe never closed) or a run of non-spaces.
CHUNK = re.compile(r'(-?)"([^"]*)"?|(\S+)')

# PostgreSQL's split of the text into words, the same as WORD (and FTS5's unicode61).
PG_WORDS = r"regexp_replace(content, '[^[:alnum:]]+', ' ', 'g')"


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # one word, or a phrase
    negated: bool = False


@dataclass(frozen=True)
class ParsedQuery:
    # Any of the groups (`or`); in a group every positive term and none of the negated ones.
    groups: tuple[tuple[Term, ...], ...]

    def __bool__(self) -> bool:
        return bool(self.groups)

    @property
    def words(self) -> frozenset[str]:
        """The words to mark in what is found."""
        return frozenset(w for group in self.groups for term in group if not term.negated for w in term.words)


def words_of(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def parse(text: str) -> ParsedQuery:
    """What was typed, as groups of terms. A group with nothing positive in it (only
    `-word`s) is dropped: "everything but" is not a search."""
    groups: list[list[Term]] = [[]]
    count = 0
    for match in CHUNK.finditer((text or "")[:MAX_QUERY_LENGTH * 2]):
        if count >= MAX_TERMS:
            break
        negated_phrase, phrase, bare = match.groups()
        if bare is not None:
            if bare.lower() == "or":
                if groups[-1]:
                    groups.append([])
                continue
            negated = bare.startswith("-")
            words = words_of(bare)
        else:
            negated = bool(negated_phrase)
            words = words_of(phrase)
        if words:
            groups[-1].append(Term(tuple(words), negated))
            count += 1
    kept = tuple(tuple(g) for g in groups if any(not t.negated for t in g))
    return ParsedQuery(kept)


def _quoted(words) -> str:
    return '"' + " ".join(words).replace('"', '""') + '"'


def fts5_expression(query: ParsedQuery, *, scope: str) -> str:
    """The MATCH expression: the reader's scope token, and the query on the content column."""
    alternatives = []
    for group in query.groups:
        positive = " AND ".join(f"content : {_quoted(t.words)}" for t in group if not t.negated)
        negative = " OR ".join(f"content : {_quoted(t.words)}" for t in group if t.negated)
        alternatives.append(f"(({positive}) NOT ({negative}))" if negative else f"({positive})")
    return f"scope : {_quoted([scope])} AND ({' OR '.join(alternatives)})"


def websearch_text(query: ParsedQuery) -> str:
    """The query again, for websearch_to_tsquery: only words, quotes, dashes and `or`."""
    return " or ".join(
        " ".join(("-" if t.negated else "") + _quoted(t.words) for t in group) for group in query.groups
    )


def rank(text: str, words) -> float:
    """How well `text` matches (SQLite): occurrences of the words, more for a short text."""
    tokens = words_of(text or "")
    if not tokens:
        return 0.0
    wanted = set(words)
    hits = sum(1 for token in tokens if token in wanted)
    return round(hits / math.log2(len(tokens) + 1), 6)


def _sqlite_rank(text, words):
    return rank(text, (words or "").split())


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """connection_created: the rank function on every SQLite connection."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("dm_search_rank", 2, _sqlite_rank, deterministic=True)


def matching(messages: QuerySet, query: ParsedQuery, *, user_id: int, conversation_id: int | None = None) -> QuerySet:
    """`messages` (already limited to what the reader may see) that match, annotated with `search_rank`."""
    vendor = connections[messages.db].vendor
    if vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField

        vector = RawSQL('"messaging_message"."search_vector"', [], output_field=SearchVectorField())
        tsquery = SearchQuery(websearch_text(query), config="simple", search_type="websearch")
        # ts_rank is a `real`; as double precision the rank a page ends on compares exactly
        # with the same value sent back as its anchor.
        return messages.alias(search_vector=vector).filter(search_vector=tsquery).annotate(
            search_rank=Cast(SearchRank(vector, tsquery), FloatField())
        )
    scope = f"c{conversation_id}" if conversation_id else f"u{user_id}"
    found = RawSQL("SELECT rowid FROM messaging_message_fts WHERE messaging_message_fts MATCH %s",
                   [fts5_expression(query, scope=scope)])  # fmt: skip
    score = Func(F("content"), Value(" ".join(sorted(query.words))), function="dm_search_rank", output_field=FloatField())
    return messages.filter(pk__in=found).annotate(search_rank=score)


# --- The index: created by migration 0004_search, per database ---------------------------------

SCOPE_OF = "'u' || {row}.sender_id || ' u' || {row}.receiver_id || ' c' || {row}.conversation_id"

SQLITE_TRIGGERS = {
    "messaging_message_fts_insert": f"""
        CREATE TRIGGER IF NOT EXISTS messaging_message_fts_insert AFTER INSERT ON messaging_message BEGIN
          INSERT INTO messaging_message_fts(rowid, content, scope)
          VALUES (new.id, new.content, {SCOPE_OF.format(row="new")});
        END""",
    "messaging_message_fts_delete": f"""
        CREATE TRIGGER IF NOT EXISTS messaging_message_fts_delete AFTER DELETE ON messaging_message BEGIN
          INSERT INTO messaging_message_fts(messaging_message_fts, rowid, content, scope)
          VALUES ('delete', old.id, old.content, {SCOPE_OF.format(row="old")});
        END""",
    "messaging_message_fts_update": f"""
        CREATE TRIGGER IF NOT EXISTS messaging_message_fts_update
        AFTER UPDATE OF content, sender_id, receiver_id, conversation_id ON messaging_message BEGIN
          INSERT INTO messaging_message_fts(messaging_message_fts, rowid, content, scope)
          VALUES ('delete', old.id, old.content, {SCOPE_OF.format(row="old")});
          INSERT INTO messaging_message_fts(rowid, content, scope)
          VALUES (new.id, new.content, {SCOPE_OF.format(row="new")});
        END""",
}
SQLITE_CREATE = [
    # Contentless: the text stays in messaging_message only; the triggers hand over the old
    # values for a delete, as FTS5 requires.
    "CREATE VIRTUAL TABLE IF NOT EXISTS messaging_message_fts USING fts5("
    "content, scope, content='', tokenize='unicode61 remove_diacritics 0')",
    *SQLITE_TRIGGERS.values(),
]
SQLITE_REBUILD = [
    "INSERT INTO messaging_message_fts(messaging_message_fts) VALUES ('delete-all')",
    f"INSERT INTO messaging_message_fts(rowid, content, scope) "
    f"SELECT id, content, {SCOPE_OF.format(row='messaging_message')} FROM messaging_message",
]
SQLITE_DROP = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS),
    "DROP TABLE IF EXISTS messaging_message_fts",
]

POSTGRES_CREATE = [
    "ALTER TABLE messaging_message ADD COLUMN search_vector tsvector "
    f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {PG_WORDS})) STORED",
    "CREATE INDEX msg_search_vector_idx ON messaging_message USING gin (search_vector)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS msg_search_vector_idx",
    "ALTER TABLE messaging_message DROP COLUMN IF EXISTS search_vector",
]


def create_index(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE_CREATE + SQLITE_REBUILD[1:], "postgresql": POSTGRES_CREATE}.get(vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


def drop_index(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(vendor, []):
        schema_editor.execute(sql)


def repair_sqlite_index(connection) -> bool:
    """Recreate missing triggers, and rebuild the index if any was missing.

    SQLite's schema editor rebuilds a table to alter it (copy, drop, rename), and dropping
    the old table drops its triggers: a later migration of Message would silently stop the
    index from following. Run after every migrate (apps.py). True when it repaired something.
    """
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE 'messaging_message%'")
        present = {row[0] for row in cursor.fetchall()}
        if "messaging_message_fts" not in present or "messaging_message" not in present:
            return False  # not migrated that far (or unmigrated): the migration will create it
        missing = [sql for name, sql in SQLITE_TRIGGERS.items() if name not in present]
        if not missing:
            return False
        for sql in missing:
            cursor.execute(sql)
        for sql in SQLITE_REBUILD:
            cursor.execute(sql)
    return True
