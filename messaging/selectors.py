"""The read side of the pages: what each page lists, built on querysets.

Views call these with objects that `access` already checked; templates never query.
Every list is paginated by anchor (a cursor or a message id), never by offset.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import BooleanField, Case, ExpressionWrapper, Q, Value, When
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.urls import reverse
from knox.models import AuthToken

from . import presence, search
from .diffing import Chunk, word_diff
from .models import Conversation, Message, MessageHistory, Notification
from .templatetags.chat import display_name, message_text
from .pagination import PAGE_SIZE, AnchoredPage, Page, anchored_page, keyset_page
from .rendering import TimeLabels
from .threads import Node, Outline, Run, build_tree, outline, runs_of, walk

User = get_user_model()

UNREAD_PAGE_SIZE = 20
USER_SEARCH_LIMIT = 8
HISTORY_PAGE_SIZE = 10
SEARCH_PAGE_SIZE = 20
# Messages of one person this close together read as one group (one name and time).
GROUP_WITHIN = timedelta(minutes=5)
# Seconds all the diffs of one history page may take together (each is time-bounded).
HISTORY_DIFF_BUDGET = 0.02


@dataclass
class InboxPage:
    unread: Page
    conversations: Page


@dataclass
class ConversationPage:
    """A page of a conversation's messages, oldest first, and where the page before it starts."""

    conversation: Conversation
    partner: object
    message_rows: list
    has_older: bool
    oldest_id: int | None
    newest_id: int | None
    version: int
    # Set for a page of older messages ("Load older"): the message it continues before.
    before: int | None = None
    # Messages newer than the page exist and are not shown ("Load newer"): a page opened
    # around a message, or a page of newer ones that did not reach the end.
    has_newer: bool = False
    # Set for a page of newer messages: the message it continues after.
    after: int | None = None
    # The message the page was opened around (a link to one message).
    around: int | None = None


def inbox_page(user, *, unread_cursor: str | None = None, conversations_cursor: str | None = None) -> InboxPage:
    """The user's unread messages and their conversations (with last message and unread count)."""
    unread = keyset_page(Message.unread.for_user(user), field="timestamp", cursor=unread_cursor, size=UNREAD_PAGE_SIZE)
    return InboxPage(unread=unread, conversations=conversations_page(user, cursor=conversations_cursor))


def conversations_page(user, *, cursor: str | None = None, size: int = PAGE_SIZE) -> Page:
    """The user's conversations, latest first, each with its last message, unread count and partner."""
    conversations = keyset_page(
        Conversation.objects.for_user(user).filter(last_message_at__isnull=False).with_inbox_columns(user),
        field="last_message_at",
        cursor=cursor,
        size=size,
    )
    last_ids = [c.last_message_id for c in conversations.items if c.last_message_id]
    last_messages = Message.objects.only("id", "content", "sender_id", "timestamp").in_bulk(last_ids)
    for conversation in conversations.items:
        conversation.last_message = last = last_messages.get(conversation.last_message_id)
        conversation.partner = conversation.other(user)
        if last is not None:
            # One of the two people, already loaded: reading its name costs no query.
            last.sender = conversation.user_low if last.sender_id == conversation.user_low_id else conversation.user_high
    # "online" or "last seen …" on each row, where both people show it: one cache round trip.
    presence.attach([c.partner for c in conversations.items], viewer=user)
    return conversations


def conversation_page(
    user, conversation: Conversation, *, before: int | None = None, after: int | None = None, around: int | None = None
) -> ConversationPage:
    """A page of a conversation, oldest first: the latest page, the page before message
    `before`, the page after message `after`, or the page around message `around` (the
    messages before it, it, and those after it: a link to one message opens there,
    however old it is). Each is one indexed range read (two around a message)."""
    rows = Message.objects.in_conversation(conversation).shown().for_display(people=False)
    has_newer = False
    if around:
        half = PAGE_SIZE // 2
        older = list(rows.filter(pk__lte=around).order_by("-pk")[: half + 1])
        newer = list(rows.filter(pk__gt=around).order_by("pk")[: half + 1])
        has_older, has_newer = len(older) > half, len(newer) > half
        page = older[:half][::-1] + newer[:half]
    elif after:
        newer = list(rows.filter(pk__gt=after).order_by("pk")[: PAGE_SIZE + 1])
        has_older, has_newer = False, len(newer) > PAGE_SIZE
        page = newer[:PAGE_SIZE]
    else:
        rows = rows.order_by("-pk")
        if before:
            rows = rows.filter(pk__lt=before)
        page = list(rows[: PAGE_SIZE + 1])
        has_older = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE][::-1]
    # Every row is between the conversation's two people, already loaded with it: no
    # User object per row (two per message, and one more per reply, when joined).
    people = {conversation.user_low_id: conversation.user_low, conversation.user_high_id: conversation.user_high}
    sender, receiver = Message.sender.field, Message.receiver.field
    for message in page:
        sender.set_cached_value(message, people[message.sender_id])
        receiver.set_cached_value(message, people[message.receiver_id])
        if message.parent_message_id:
            sender.set_cached_value(message.parent_message, people[message.parent_message.sender_id])
    mark_days_and_groups(page)
    return ConversationPage(
        conversation=conversation,
        partner=conversation.other(user),
        message_rows=page,
        has_older=has_older,
        oldest_id=page[0].pk if page else None,
        newest_id=page[-1].pk if page else None,
        version=conversation.version,
        before=before,
        has_newer=has_newer,
        after=after,
        around=around,
    )


@dataclass
class SearchPage:
    """One page of search results, best match first, and the anchor of the next page."""

    query: str
    results: list[Message]
    # The words to mark in each result (the query's own, parsed: search.parse).
    words: frozenset
    next_before: str | None
    is_first: bool
    conversation: Conversation | None = None


def search_anchor(message: Message) -> str:
    """Where the next page starts: the last result's rank and id (repr keeps the float exact)."""
    return f"{message.search_rank!r}_{message.pk}"


def parse_search_anchor(raw: str | None) -> tuple[float, int] | None:
    rank, _, pk = (raw or "").rpartition("_")
    try:
        rank, pk = float(rank), int(pk)
    except ValueError:
        return None
    return (rank, pk) if math.isfinite(rank) and 0 < pk < 2**63 else None


def search_messages(
    user, q: str, *, conversation: Conversation | None = None, before: str | None = None, size: int = SEARCH_PAGE_SIZE
) -> SearchPage:
    """The user's messages (sent or received, not deleted) that match `q`, in one conversation
    (already checked by access) or in all of theirs; best match first, then newest. Paginated
    by anchor (`before`: the rank and id of the last result shown), never by offset. One query."""
    parsed = search.parse(q)
    if not parsed:
        return SearchPage(q, [], frozenset(), None, is_first=not before, conversation=conversation)
    rows = Message.objects.visible_to(user).alive()
    if conversation is not None:
        rows = rows.in_conversation(conversation)
    rows = search.matching(rows, parsed, user_id=user.pk, conversation_id=conversation.pk if conversation else None)
    anchor = parse_search_anchor(before)
    if anchor is not None:
        rank, pk = anchor
        rows = rows.filter(Q(search_rank__lt=rank) | Q(search_rank=rank, pk__lt=pk))
    found = list(
        rows.select_related("sender__profile", "conversation__user_low__profile", "conversation__user_high__profile")
        .order_by("-search_rank", "-pk")[: size + 1]
    )
    next_before = search_anchor(found[size - 1]) if len(found) > size else None
    return SearchPage(q, found[:size], parsed.words, next_before, is_first=not before, conversation=conversation)

def partner_presence(user, conversation: Conversation):
    """The other person of the conversation, with their `presence` (None where hidden: their
    switch or the reader's is off, or notes to self), for the conversation's header."""
    partner = conversation.other(user)
    presence.attach([partner], viewer=user)
    return partner


def day_label(moment) -> str:
    """Today, Yesterday, a weekday this week, or the date, in the reader's time zone."""
    day = timezone.localtime(moment).date()
    today = timezone.localdate()
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if today - day < timedelta(days=7):
        return date_format(day, "l")
    return date_format(day, "j F Y" if day.year != today.year else "l j F")


def mark_days_and_groups(rows: list[Message]) -> None:
    """Set on each row `day_label` (where a new day begins) and `grouped` (it follows a
    message of the same person within GROUP_WITHIN: shown without its own name and time)."""
    previous = None
    zone = timezone.get_current_timezone()
    labels: dict = {}  # one label per day (a page spans a few), not one per message
    for message in rows:
        day = message.timestamp.astimezone(zone).date()
        label = labels.get(day)
        if label is None:
            label = labels[day] = day_label(message.timestamp)
        message.day_label = label if previous is None or label != previous.day_label_value else ""
        message.day_label_value = label
        message.grouped = bool(
            previous is not None and not message.day_label and previous.sender_id == message.sender_id
            and not previous.is_deleted and message.timestamp - previous.timestamp <= GROUP_WITHIN
        )  # fmt: skip
        previous = message


def conversation_rows(conversation: Conversation):
    """What a conversation shows (placeholders for deleted messages that have replies),
    with what each row shows."""
    return Message.objects.in_conversation(conversation).shown().for_display()


def conversation_messages(
    conversation: Conversation, *, before: int | None = None, after: int | None = None, size: int = PAGE_SIZE
) -> AnchoredPage:
    """A page of the conversation's rows, newest first, anchored on a message id (the API)."""
    return anchored_page(conversation_rows(conversation), before=before, after=after, size=size)


def unread_messages(user, *, before: int | None = None, after: int | None = None, size: int = UNREAD_PAGE_SIZE):
    """The user's unread messages, newest first, anchored on a message id (the API)."""
    return anchored_page(
        Message.unread.for_user(user), before=before, after=after, size=size,
        field="timestamp", anchors=Message.objects.filter(receiver=user),
    )  # fmt: skip


def conversation_changes(conversation: Conversation, *, since: int, until: int, oldest: int = 0) -> list[Message]:
    """The rows of the conversation that changed after version `since`, up to `until`,
    from message `oldest` on (a page never shows what is older than its first message)."""
    changed = Message.objects.in_conversation(conversation).changed_between(since, until)
    # A reply changes what its parent and grandparent show (their reply counts): they come
    # with it, instead of every reply writing their rows again.
    rows = Message.objects.in_conversation(conversation).filter(
        Q(pk__in=changed.values("pk"))
        | Q(pk__in=changed.filter(parent_message__isnull=False).values("parent_message_id"))
        | Q(pk__in=changed.filter(parent_message__parent_message__isnull=False).values("parent_message__parent_message_id"))
    )
    if oldest:
        rows = rows.filter(pk__gte=oldest)
    return list(rows.for_display().order_by("pk"))


def message_for_display(message_id: int) -> Message | None:
    """One message with what its row shows; None when it was deleted meanwhile."""
    return Message.objects.for_display().filter(pk=message_id).first()


@dataclass
class Thread:
    nodes: list[Node]
    # The latest conversation version at which anything in the thread changed.
    version: int


def thread(root: Message) -> Thread:
    """Every reply below `root`, in display order (one recursive query, assembled in one pass)."""
    rows = list(Message.objects.thread_of(root))
    version = max((row.changed_version for row in rows), default=root.changed_version)
    return Thread(nodes=list(walk(build_tree(root, rows))), version=version)


@dataclass
class ThreadPage:
    """One piece of a thread page: its runs of replies (threads.Run, each node a row of
    ready strings), the reply to continue after ("Show more replies"), the thread's version."""

    root_row: dict
    runs: list[Run]
    next_after: int | None
    version: int
    total: int


class _Urls:
    """A URL per message, built by string from one reverse() (reversing per row was a sixth
    of the thread's render)."""

    def __init__(self, name: str):
        marker = 2**62
        self.before, self.after = reverse(name, args=[marker]).split(str(marker))

    def __call__(self, pk: str) -> str:
        return f"{self.before}{pk}{self.after}"


def thread_page(root: Message, *, viewer, after: int | None = None, through: int | None = None,
                since: int | None = None, size: int | None = None, anchored: bool = False) -> ThreadPage:
    """The replies below `root`, `size` at a time (settings.THREAD_PAGE_SIZE) in display
    order, after reply `after`.

    `through` (an open thread redrawing itself, which had shown the replies up to that one,
    "Show more replies" included): the replies up to it at least, and the ones changed since
    version `since` that follow it, so a new reply at the end appears without bringing in
    the older ones still behind the link; at most settings.THREAD_REDRAW_MAX_REPLIES.

    One recursive query gives the whole shape in light rows (no model objects); one more
    loads what the piece shows. Every row is made ready here, in one pass: names as the
    viewer reads them, times, URLs, text as HTML, so the template only places strings.
    `anchored`: each reply gets its id (the thread page; not a thread opened in place, as a
    reply can be in several of those on one page).
    """
    light = (
        Message.objects.thread_of(root)
        # Whether deleted as a number: no datetime to convert per row.
        .annotate(gone=Case(When(deleted_at=None, then=Value(0)), default=Value(1)))
        .values_list("id", "parent_message_id", "depth", "sender_id", "gone", "changed_version")
    )
    # Fetched straight from the cursor: every column is an integer, so there is nothing for
    # the ORM to convert, and at 3,000 replies its per-row work was most of the outline's cost.
    sql, params = light.query.sql_with_params()
    with connections[light.db].cursor() as cursor:
        cursor.execute(sql, params)
        light_rows = cursor.fetchall()
    shape = outline(root.pk, light_rows)
    order = shape.order
    size = size or settings.THREAD_PAGE_SIZE
    start, end = 0, size
    if after:
        position = _position(order, after)
        start = len(order) if position is None else position + 1  # gone from it: nothing after it
        end += start
    elif through and (position := _position(order, through)) is not None:
        end = max(end, position + 1)
        if since is not None:
            fresh = {row[0] for row in light_rows if row[5] > since}
            while end < len(order) and order[end] in fresh:
                end += 1
        end = min(end, max(settings.THREAD_REDRAW_MAX_REPLIES, size))
    piece = order[start:end]
    more = end < len(order)
    rows = {
        row[0]: row
        for row in Message.objects.filter(pk__in=piece).values_list("id", "content", "timestamp", "edited", "deleted_at")
    }
    people = {root.sender_id: root.sender, root.receiver_id: root.receiver}
    names = {pk: (escape("You" if pk == viewer.pk else display_name(u)), escape("you" if pk == viewer.pk else display_name(u)))
             for pk, u in people.items()}  # fmt: skip (escape() returns SafeStrings)
    # Replying from the thread page: without JavaScript, the reply goes back there.
    query = f"?thread={root.pk}"
    make = _ThreadRows(names, shape, anchored, query, query if anchored else "")
    runs = runs_of(piece, shape)
    for run in runs:
        run.nodes = [make.row(pk, rows[pk], closes) for pk, closes in run.nodes]
    root_row = make.row(root.pk, (root.pk, root.content, root.timestamp, root.edited, root.deleted_at), 1, is_root=True)
    return ThreadPage(root_row, runs, piece[-1] if more else None, max(shape.version, root.changed_version),
                      len(shape.order))  # fmt: skip


def _position(order: list[int], pk: int) -> int | None:
    try:
        return order.index(pk)
    except ValueError:  # not in this thread (any more)
        return None


class _ThreadRows:
    def __init__(self, names: dict, shape: Outline, anchored: bool, reply_query: str, hx_reply_query: str):
        self.names, self.shape, self.anchored = names, shape, anchored
        self.reply_query, self.hx_reply_query = reply_query, hx_reply_query
        self.now = timezone.now()
        self.zone = timezone.get_current_timezone()
        self.today = self.now.astimezone(self.zone).date()
        self.when: dict = {}  # by whole minute: replies close in time share their labels
        self.labels = TimeLabels(self.today)
        self.reply_url = _Urls("messaging:message-reply")
        self.history_url = _Urls("messaging:message-history")
        self.closes = [SafeString(""), SafeString("</div>")]

    def row(self, pk: int, data, closes: int, *, is_root: bool = False) -> dict:
        # SafeString(), not mark_safe(): the values are made safe here, and mark_safe's lazy
        # wrapper cost more than the rest of the row.
        _, content, timestamp, edited, _ = data
        shape = self.shape
        name, name_you = self.names[shape.sender[pk]]
        parent = None if is_root else shape.parent.get(pk)
        text = SafeString(pk)
        while len(self.closes) <= closes:
            self.closes.append(SafeString("</div>" * len(self.closes)))
        return {
            "id": text,
            "anchor": SafeString(f' id="node-{pk}"') if self.anchored else "",
            "name": name,
            "name_you": name_you,
            "to": self.names[shape.sender[parent]][1] if parent in shape.sender else "",
            "iso": timestamp.astimezone(self.zone).isoformat(),
            **self._when(timestamp),
            "body": message_text(content),
            "reply": SafeString(self.reply_url(text) + self.reply_query),
            "reply_hx": SafeString(self.reply_url(text) + self.hx_reply_query),
            "history": SafeString(self.history_url(text)) if edited else "",
            "close": self.closes[closes],
        }

    def _when(self, timestamp) -> dict:
        """As in the conversation: the clock time in the reader's zone (with the day when it is
        not today), the full date and zone in the tooltip."""
        local = timestamp.astimezone(self.zone)
        minute = local.replace(second=0, microsecond=0)
        when = self.when.get(minute)
        if when is None:
            when = self.when[minute] = {"hm": self.labels.short(local), "title": self.labels.title(local)}
        return when


@dataclass
class Version:
    content: str
    at: object
    is_current: bool
    chunks: list[Chunk]


@dataclass
class HistoryPage:
    versions: list[Version]
    # The history row to continue before ("Show earlier versions"), if there are more.
    next_before: int | None
    is_first: bool


def history_page(message: Message, *, before: int | None = None) -> HistoryPage:
    """A message's versions, newest first (the current text on the first page), each with
    the words it changed from the version before it. Paginated by the history row."""
    rows = MessageHistory.objects.filter(message=message).order_by("-edited_at", "-pk")
    if before:
        anchor = rows.filter(pk=before).values("edited_at", "pk").first()
        if anchor is None:
            return HistoryPage([], None, is_first=False)
        rows = rows.filter(Q(edited_at__lt=anchor["edited_at"]) | Q(edited_at=anchor["edited_at"], pk__lt=anchor["pk"]))
    # One row more than shown: the text the last shown version was written over.
    fetched = list(rows.only("pk", "old_content", "edited_at")[: HISTORY_PAGE_SIZE + 1])
    shown = fetched[:HISTORY_PAGE_SIZE]
    # (text, when it was written) newest first: a history row holds the text an edit replaced,
    # written when the edit before it was made (or when the message was sent).
    entries = [(message.content, fetched[0].edited_at if fetched else message.timestamp)] if not before else []
    for index, row in enumerate(fetched):
        older = fetched[index + 1].edited_at if index + 1 < len(fetched) else message.timestamp
        entries.append((row.old_content, older))
    visible = len(entries) - (1 if len(fetched) > HISTORY_PAGE_SIZE else 0)
    deadline = time.monotonic() + HISTORY_DIFF_BUDGET
    versions = []
    for index in range(visible):
        text, at = entries[index]
        previous = entries[index + 1][0] if index + 1 < len(entries) else None
        chunks = word_diff(previous, text, deadline=deadline - time.monotonic()) if previous is not None else [Chunk(text, "same")]
        versions.append(Version(text, at, is_current=index == 0 and not before, chunks=chunks))
    more = len(fetched) > HISTORY_PAGE_SIZE
    return HistoryPage(versions, shown[-1].pk if more else None, is_first=not before)


NOTIFICATION_KINDS = dict(Notification.Kind.choices)


def notifications_page(user, *, cursor: str | None = None, size: int = PAGE_SIZE, kind: str | None = None) -> Page:
    """The user's notifications, newest first (a "read" or "came online" one moves up when
    it is updated in place); only those of `kind` when given (one of Notification.Kind)."""
    notifications = Notification.objects.filter(user=user)
    if kind in NOTIFICATION_KINDS:
        notifications = notifications.filter(kind=kind)
    return keyset_page(
        notifications.select_related("message__sender__profile", "actor__profile"),
        field="created_at", cursor=cursor, size=size,
    )  # fmt: skip


def recipient_named(username: str):
    """The active user a message to `username` goes to (case-insensitive), or None."""
    return User.objects.filter(username__iexact=username.strip(), is_active=True).first()


def usernames_starting(text: str, *, limit: int = USER_SEARCH_LIMIT) -> list[str]:
    """Active usernames that start with `text` (case-insensitive), for the compose "To" field."""
    # NUL can't be in a username, and PostgreSQL refuses it in a query (a 500).
    text = text.replace("\x00", "").strip()[:150]
    if not text:
        return []
    return list(
        User.objects.filter(username__istartswith=text, is_active=True)
        .order_by("username")
        .values_list("username", flat=True)[:limit]
    )


def api_tokens(user):
    """The user's API tokens for Settings, newest first, each saying whether it has expired."""
    expired = ExpressionWrapper(Q(expiry__lte=Now()), output_field=BooleanField())
    return list(AuthToken.objects.filter(user=user).annotate(expired=expired).order_by("-created"))
