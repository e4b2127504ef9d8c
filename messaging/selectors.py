"""The read side of the pages: what each page lists, built on querysets.

Views call these with objects that `access` already checked; templates never query.
Every list is paginated by anchor (a cursor or a message id), never by offset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.formats import date_format
from knox.models import AuthToken

from . import presence
from .diffing import Chunk, word_diff
from .models import Conversation, Message, MessageHistory, Notification
from .pagination import PAGE_SIZE, AnchoredPage, Page, anchored_page, keyset_page
from .threads import Node, build_tree, walk

User = get_user_model()

UNREAD_PAGE_SIZE = 20
USER_SEARCH_LIMIT = 8
HISTORY_PAGE_SIZE = 10
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


def conversation_page(user, conversation: Conversation, *, before: int | None = None) -> ConversationPage:
    """The latest page of a conversation (or the page before message `before`), oldest first."""
    rows = conversation_rows(conversation).order_by("-pk")
    if before:
        rows = rows.filter(pk__lt=before)
    page = list(rows[: PAGE_SIZE + 1])
    has_older = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE][::-1]
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
    )


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
    for message in rows:
        label = day_label(message.timestamp)
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
    rows = Message.objects.in_conversation(conversation).changed_between(since, until)
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
