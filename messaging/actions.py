"""Every write with side effects. Views, commands and signals change state only here."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone
from knox.models import AuthToken

from . import caching, live
from .models import Conversation, Message, MessageHistory, Notification, Profile, clean_content
from .sessions import end_sessions
from .unread import forget_badges_on_commit

logger = logging.getLogger("messaging")
User = get_user_model()


class EditConflict(Exception):
    """The message changed after the editor opened it; `current` is the newer version."""

    def __init__(self, current: Message):
        super().__init__("This message was changed elsewhere since you started editing.")
        self.current = current


def content_token(content: str) -> str:
    """A short fingerprint of a message's text, carried by the edit form to detect conflicts."""
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _lock_users(*user_ids: int) -> set[int]:
    """Lock the users' rows (FOR NO KEY UPDATE, in id order) until commit; return those that exist."""
    return set(
        User.objects.select_for_update(no_key=True)
        .filter(pk__in=set(user_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _lock_people(sender_id: int, receiver_id: int) -> None:
    # Holding both people's rows until commit means an account deletion cannot
    # slip between our check and our insert: either it happened before (clear
    # error) or it waits for us and then removes our message too (delete_account
    # takes the same row first). Lock order is always people (by id), then
    # messages, then the conversation, in every write, so writes never wait on
    # each other in a cycle. FOR NO KEY UPDATE still holds off a deletion but not
    # the foreign-key checks other writers make on these rows at commit: with
    # FOR UPDATE, two people writing to each other at once deadlocked.
    found = _lock_users(sender_id, receiver_id)
    if receiver_id not in found:
        raise ValidationError({"to": "This person no longer has an account."})
    if sender_id not in found:
        raise ValidationError("Your account was deleted.")


@transaction.atomic
def send_message(sender, *, to, content: str, sent_at: datetime | None = None,
                 conversation: Conversation | None = None) -> Message:
    """Store a new message from `sender` to `to` (who may be `sender`: a note to self).

    Guarantees: the content is validated (ValidationError, nothing written), the
    receiver still exists, and the message, its notification, the conversation's new
    version and its kept unread counts commit together.

    What it does, in order: both people are locked; one UPDATE ... RETURNING on the
    conversation (found by its pair, or `conversation`, the one the caller already
    has) raises its version, moves `last_message_at` and counts the message unread
    for the receiver; the message is inserted already stamped with that version (so
    Message.save() looks nothing up); post_save (signals.message_post_save) then
    creates the receiver's Notification and forgets their cached badge
    (notify_receiver). `sent_at` (imports, demo data) dates the message.
    """
    content = clean_content(content)
    _lock_people(sender.pk, to.pk)
    message = Message(sender=sender, receiver=to, content=content)
    if sent_at is not None:
        message.timestamp = sent_at
    _stamp_new_message(message, conversation_id=conversation.pk if conversation is not None else None)
    message.save()
    return message


@transaction.atomic
def reply_to_message(parent: Message, *, sender, content: str, sent_at: datetime | None = None) -> Message:
    """Answer `parent` within its conversation; the reply goes to the other participant.

    Guarantees: only a participant can reply, the parent still exists (checked in the
    version UPDATE, which runs once both people are locked, so it sees a deletion that
    committed while we waited), and the reply stays in the parent's conversation. It
    does what send_message does. The parent's row is not stamped: a reply counts as a
    change of its parent and grandparent (selectors.conversation_changes), whose reply
    counts it changes.
    """
    content = clean_content(content)
    # A message's two people never change, so they can be checked (and locked,
    # people before messages) from the object we were given.
    if sender.pk not in (parent.sender_id, parent.receiver_id):
        raise PermissionDenied("Only the two people of a conversation can reply in it.")
    receiver_id = parent.receiver_id if parent.sender_id == sender.pk else parent.sender_id
    _lock_people(sender.pk, receiver_id)
    message = Message(
        sender=sender,
        receiver_id=receiver_id,
        content=content,
        parent_message=parent,
        conversation_id=parent.conversation_id,
    )
    if sent_at is not None:
        message.timestamp = sent_at
    if not _stamp_new_message(message, conversation_id=parent.conversation_id, alive_parent=parent.pk):
        raise ValidationError({"content": "The message you are replying to was deleted."})
    message.save()
    return message


def _stamp_new_message(message: Message, *, conversation_id: int | None, alive_parent: int | None = None) -> bool:
    """Before the INSERT: raise the conversation's version (creating the conversation if
    need be) and count the message for its receiver; the message carries the version in
    its INSERT. False when `alive_parent` is no longer there to answer."""
    note_to_self = message.sender_id == message.receiver_id
    counts = {} if note_to_self else {"person": message.receiver_id, "unread": 1, "notifications": 1}
    pair = sorted((message.sender_id, message.receiver_id))
    found = _next_version(
        conversation_id, pair=None if conversation_id else pair, last_message_at=message.timestamp,
        alive_parent=alive_parent, **counts,
    )
    if found is None:
        if alive_parent is not None:
            return False
        conversation = Conversation.objects.get_or_create_between(message.sender, message.receiver)
        found = _next_version(conversation.pk, last_message_at=message.timestamp, **counts)
    message.conversation_id, message.changed_version = found
    message._stamped = True  # touch_conversation: nothing left to bump
    return True


@transaction.atomic
def edit_message(message: Message, *, editor, content: str, base_token: str | None = None) -> Message:
    """Replace the text of `message` (as the caller loaded it), keeping the old version in its history.

    Guarantees: only the sender edits; concurrent edits are serialised (the people's
    rows are locked, and the UPDATE only applies to the text the caller read, so each
    edit leaves one history row with the text it replaced); with `base_token` (the
    fingerprint of the text the editor started from) a change made meanwhile raises
    EditConflict instead of being overwritten.

    What it writes: the conversation's new version (UPDATE ... RETURNING), the message's
    new text stamped with it (one UPDATE, compare-and-set on the old text), the history
    row. An edit made any other way (admin, shell: Message.save()) is recorded by the
    pre_save signal instead (record_edit). Returns `message` with the new text.
    """
    content = clean_content(content)
    if message.sender_id != editor.pk:
        raise PermissionDenied("Only the sender can edit a message.")
    # People before the message, as every write (see _lock_people). The history row's
    # foreign keys are checked at commit (PostgreSQL): without the sender's lock first,
    # an edit and the sender's account deletion deadlocked.
    _lock_users(message.sender_id, message.receiver_id)
    old = message.content
    if message.deleted_at is None and old == content and base_token in (None, content_token(old)):
        return message
    if message.deleted_at is None and base_token in (None, content_token(old)):
        found = _next_version(message.conversation_id)
        written = found is not None and Message.objects.filter(
            pk=message.pk, deleted_at=None, content=old
        ).update(content=content, edited=True, changed_version=found[1])
        if written:
            MessageHistory.objects.create(message_id=message.pk, old_content=old, edited_by_id=editor.pk)
            message.content, message.edited, message.changed_version = content, True, found[1]
            _publish_conversation(message.conversation_id, (message.sender_id, message.receiver_id), found[1])
            return message
    # The text changed after the caller read it (or the message is gone): as before, from the locked row.
    current = Message.objects.select_for_update().filter(pk=message.pk).first()
    if current is None or current.deleted_at is not None:
        raise ValidationError({"content": "This message was deleted."})
    if base_token is not None and content_token(current.content) != base_token:
        raise EditConflict(current)
    if current.content != content:
        current.content = content
        current._editor_id = editor.pk
        current.save(update_fields=["content", "edited"])
    for name in ("reply_count", "has_nested_replies"):  # what the caller's row showed
        if hasattr(message, name):
            setattr(current, name, getattr(message, name))
    return current


@transaction.atomic
def delete_message(message: Message, *, by) -> Message:
    """The sender deletes their message, for both people.

    Guarantees: only the sender deletes; its text, its edit history and its notifications
    go at once; the row stays as a "Message deleted" placeholder while it has replies (so
    the thread still reads) and is hidden otherwise; an unread message stops counting on
    the receiver's badge. post_save bumps the conversation's version and stamps the row and
    the message it answered (its reply count changed), so every open page redraws them.
    """
    _lock_users(message.sender_id, message.receiver_id)  # people before the message, as every write
    current = Message.objects.select_for_update().filter(pk=message.pk).first()
    if current is None:
        raise ValidationError("This message was already deleted.")
    if current.sender_id != by.pk:
        raise PermissionDenied("Only the sender can delete a message.")
    if current.deleted_at is not None:
        return current
    was_unread = not current.read and not current.is_note_to_self
    MessageHistory.objects.filter(message=current).delete()
    unread_notifications = (
        Notification.objects.filter(message=current, read=False, kind__in=Notification.MESSAGE_KINDS).count()
    )
    # The sender's "read" notification stays (the conversation was read), without this text.
    Notification.objects.filter(message=current, kind=Notification.Kind.READ).update(message=None)
    if Notification.objects.filter(message=current).delete()[0]:
        live.publish_on_commit([current.receiver_id], "notifications")
    # What the kept counts lose, applied by touch_conversation in the version UPDATE.
    current._counts = {"person": current.receiver_id, "unread": -int(was_unread), "notifications": -unread_notifications}
    current.content, current.edited, current.read, current.deleted_at = "", False, True, timezone.now()
    current.save(update_fields=["content", "edited", "read", "deleted_at"])
    if was_unread:
        forget_badges_on_commit(current.receiver_id)
    return current


def mark_conversation_read(conversation: Conversation, *, user) -> int:
    """Mark every message to `user` in the conversation read, and their notifications.

    Returns how many messages this call flipped (a concurrent reader may flip some first).
    Opening a read conversation writes nothing (this runs on every visit and every poll).
    The read rows are stamped with a new conversation version (the sender's page then
    shows "Seen") and the reader's badge is forgotten.
    """
    unread = Message.objects.filter(conversation=conversation, receiver=user, read=False).order_by("pk")
    ids = list(unread.values_list("pk", flat=True)[:10_000])
    if not ids:
        return 0
    with transaction.atomic():
        return _mark_read(user, {conversation.pk: ids}, people=(conversation.user_low_id, conversation.user_high_id))[0]


def _mark_read(user, ids_by_conversation: dict[int, list[int]], *, people=None) -> tuple[int, int]:
    """Flip these messages to `user` read, with their notifications; stamp each conversation
    and take what flipped off its kept counts. Returns (messages, notifications) flipped."""
    senders = {}
    if people is None:
        senders = dict(
            Message.objects.filter(pk__in=[ids[0] for ids in ids_by_conversation.values()])
            .values_list("conversation_id", "sender_id")
        )
    # People first, as every write: the kept counts are exact because writers of a
    # conversation take turns on these locks.
    _lock_users(user.pk, *(people or senders.values()))
    messages = notifications = 0
    for conversation_id, ids in ids_by_conversation.items():
        # Count only what this call flipped: a concurrent reader may have won some rows.
        flipped = Message.objects.filter(pk__in=ids, receiver=user, read=False).update(read=True)
        notified = (
            Notification.objects.filter(user=user, read=False, message_id__in=ids, kind__in=Notification.MESSAGE_KINDS)
            .update(read=True)
        )
        messages, notifications = messages + flipped, notifications + notified
        # The sender's page shows "Seen" on these: stamp them so their page brings it.
        pair = people or (user.pk, senders.get(conversation_id))
        bump_conversation(conversation_id, people=pair, changed_message_ids=ids,
                          counts={"person": user.pk, "unread": -flipped, "notifications": -notified})  # fmt: skip
        # And the sender hears it once per conversation (a read receipt, updated in place).
        sender_id = next((pk for pk in pair if pk != user.pk), None)
        if flipped and sender_id is not None:
            notify_read(conversation_id, reader_id=user.pk, sender_id=sender_id, newest_id=max(ids))
    forget_badges_on_commit(user.pk)
    return messages, notifications


def notify_read(conversation_id: int, *, reader_id: int, sender_id: int, newest_id: int) -> Notification:
    """The sender learns the reader read their messages: one "read" notification per
    conversation, moved to now and unread again on every read (never a second one: the
    unique constraint notif_one_per_conversation, and update_or_create retries its get
    when a concurrent insert wins)."""
    notification, _ = Notification.objects.update_or_create(
        user_id=sender_id, kind=Notification.Kind.READ, conversation_id=conversation_id,
        defaults={"actor_id": reader_id, "message_id": newest_id, "created_at": timezone.now(), "read": False},
    )  # fmt: skip
    forget_badges_on_commit(sender_id)
    live.publish_on_commit([sender_id], "notifications")
    return notification


@transaction.atomic
def mark_notifications_read(user, *, ids: list[int] | None = None, kind: str | None = None) -> int:
    """Mark the user's notifications read: the given ones, or all (of `kind`, when given). Returns how many.

    A notification about a message (a new message, a reply) is read with its message (so
    the badge, which counts unread messages, and the notification list always agree), its
    sender's page shows "Seen", and the conversation's kept counts move (`_mark_read`). Read
    receipts and "came online" have no message to read: they are only marked.
    """
    notifications = Notification.objects.filter(user=user, read=False)
    if ids is not None:
        notifications = notifications.filter(pk__in=ids)
    if kind:
        notifications = notifications.filter(kind=kind)
    by_conversation: dict[int, list[int]] = {}
    about_messages = notifications.filter(kind__in=Notification.MESSAGE_KINDS, message__isnull=False)
    for conversation_id, pk in about_messages.order_by("message_id").values_list("message__conversation_id", "message_id"):
        by_conversation.setdefault(conversation_id, []).append(pk)
    count = _mark_read(user, by_conversation)[1] if by_conversation else 0
    others = notifications.exclude(kind__in=Notification.MESSAGE_KINDS).update(read=True)
    count += others
    if others:
        forget_badges_on_commit(user.pk)  # the Notifications link counts them too
    if count:
        live.publish_on_commit([user.pk], "notifications")
    return count


@transaction.atomic
def set_messages_read(messages, *, read: bool) -> int:
    """Admin bulk action: flag messages read or unread, keeping badges and caches right."""
    messages = list(messages.values_list("pk", "receiver_id", "conversation_id", "sender_id"))
    count = Message.objects.filter(pk__in=[pk for pk, *_ in messages]).update(read=read)
    for conversation_id in {c for _, _, c, _ in messages}:
        mine = [(pk, r, s) for pk, r, c, s in messages if c == conversation_id]
        bump_conversation(
            conversation_id, people={mine[0][1], mine[0][2]}, changed_message_ids=[pk for pk, _, _ in mine],
            recount=True,
        )
    receivers = {r for _, r, _, _ in messages}
    forget_badges_on_commit(*receivers)
    return count


@transaction.atomic
def recount_unread(conversation_ids, *, people=()) -> None:
    """Count the kept unread counts of these conversations again from their rows (the admin's
    bulk changes to notifications, which bypass the actions), and forget the people's badges."""
    for conversation_id in set(conversation_ids):
        _next_version(conversation_id, recount=True)
    if people:
        forget_badges_on_commit(*people)


@transaction.atomic
def delete_account(user) -> None:
    """Delete the user and everything of theirs: their messages (sent and received),
    conversations, notifications and history go by CASCADE, the rest by the
    user's post_delete signal (forget_user). Nobody else's conversations change.

    Concurrent writes to the user either commit first and are deleted too, or
    wait and then get a clear error; none is left pointing at nothing.
    """
    # Same lock order as the writes: the person, then their messages. Only then
    # collect what to delete, so a message, reply or edit that committed while we
    # waited is collected too (PostgreSQL; SQLite runs one writer at a time).
    if User.objects.select_for_update().filter(pk=user.pk).first() is None:
        return
    list(Message.objects.visible_to(user).select_for_update().order_by("pk").values_list("pk", flat=True))
    # Their unread messages leave other people's unread badges too: those counts must be redone.
    unread_sent = Message.unread.filter(sender=user).exclude(receiver=user).order_by()
    receivers = set(unread_sent.values_list("receiver_id", flat=True))
    user.delete()
    if receivers:
        forget_badges_on_commit(*receivers)


@transaction.atomic
def create_api_token(user, *, days: int) -> tuple[AuthToken, str]:
    """A personal access token for the API, valid for `days` days (one of
    settings.API_TOKEN_LIFETIMES_DAYS: no token lives for ever).

    Returns the row and the token itself, which is stored nowhere: only its SHA-512
    digest is kept (django-rest-knox), so it can be shown once. Guarantees: at most
    settings.API_TOKENS_PER_USER live tokens per person; expired ones are pruned here.
    """
    if days not in settings.API_TOKEN_LIFETIMES_DAYS:
        raise ValidationError({"expires_in": "Choose one of the lifetimes offered."})
    # Locked, so that two creations at once cannot both slip under the limit.
    if not _lock_users(user.pk):
        raise ValidationError("Your account was deleted.")
    tokens = AuthToken.objects.filter(user=user)
    tokens.filter(expiry__lte=timezone.now()).delete()
    if tokens.count() >= settings.API_TOKENS_PER_USER:
        raise ValidationError(f"You have {settings.API_TOKENS_PER_USER} tokens already: revoke one first.")
    return AuthToken.objects.create(user=user, expiry=timedelta(days=days))


def revoke_api_token(token: AuthToken) -> None:
    """The token stops working at once: the next request with it gets a 401 (every API
    request reads its token row, and cached API pages are only served after that)."""
    AuthToken.objects.filter(pk=token.pk).delete()


# --- Profiles and presence ------------------------------------------------------------


def create_profile(user) -> Profile:
    """The user's profile, created if missing: one per user, never two (the user is its
    primary key; get_or_create re-reads when a concurrent create wins)."""
    profile, _ = Profile.objects.get_or_create(user_id=user.pk)
    return profile


@transaction.atomic
def update_profile(user, *, display_name: str, time_zone: str, show_online: bool, notify_online: bool) -> Profile:
    """Save the user's settings. Turning "Show when I'm online" off (or on) redraws the
    presence their contacts' open pages show (live event `presence`)."""
    profile = create_profile(user)
    was_shown = profile.show_online
    profile.display_name, profile.time_zone = display_name, time_zone
    profile.show_online, profile.notify_online = show_online, notify_online
    profile.full_clean()
    profile.save(update_fields=["display_name", "time_zone", "show_online", "notify_online"])
    contacts = _contact_ids(user.pk)
    # Names show in their pages too: their inbox and conversations redraw.
    live.publish_on_commit(contacts, "presence")
    if was_shown != show_online:
        live.publish_on_commit([user.pk], "presence")
    return profile


def set_time_zone_if_unset(user, *, time_zone: str) -> bool:
    """On sign-in: the browser's zone becomes the profile's, unless one is set already."""
    from .models import valid_time_zone

    try:
        valid_time_zone(time_zone)
    except ValidationError:
        return False
    if not time_zone:
        return False
    return bool(Profile.objects.filter(user_id=user.pk, time_zone="").update(time_zone=time_zone))


@transaction.atomic
def hide_presence(profiles) -> int:
    """Admin bulk action: turn "Show when I'm online" off for these profiles."""
    user_ids = list(profiles.filter(show_online=True).values_list("pk", flat=True))
    count = Profile.objects.filter(pk__in=user_ids).update(show_online=False)
    for user_id in user_ids:
        live.publish_on_commit(_contact_ids(user_id), "presence")
    return count


def _contact_ids(user_id: int) -> list[int]:
    """The people the user has a conversation with (not themselves)."""
    pairs = Conversation.objects.for_user(user_id).values_list("user_low_id", "user_high_id")
    return sorted({pk for pair in pairs for pk in pair if pk != user_id})


def record_presence(user_id: int, *, at: datetime) -> bool:
    """The heartbeat's database write (presence.heartbeat calls it at most once a minute per
    user): `last_seen` moves to `at` only when older than PRESENCE_WRITE_SECONDS, so
    concurrent beats write once. Returns whether the user came online (was offline
    before): then their contacts' pages redraw their presence, and whoever asked for it
    is told (notify_came_online)."""
    # The database lags the cache by up to one write interval: offline is older than both.
    offline_before = at - timedelta(seconds=settings.PRESENCE_ONLINE_SECONDS + settings.PRESENCE_WRITE_SECONDS)
    with transaction.atomic():
        came_online = Profile.objects.filter(
            Q(last_seen__isnull=True) | Q(last_seen__lt=offline_before), user_id=user_id
        ).update(last_seen=at)
        if not came_online:
            written_before = at - timedelta(seconds=settings.PRESENCE_WRITE_SECONDS)
            Profile.objects.filter(user_id=user_id, last_seen__lt=written_before).update(last_seen=at)
            return False
        notify_came_online(user_id, at=at)
    return True


def notify_came_online(user_id: int, *, at: datetime) -> None:
    """`user_id` came online: their contacts' open pages redraw it (live `presence`), and
    each contact who wrote to them and asked ("Tell me when someone I write to comes
    online") gets a "came online" notification, at most one an hour per person (one row
    per conversation, moved to now when an hour old). Nothing of it when they hide
    their presence, and nothing for contacts who hide theirs."""
    if not Profile.objects.filter(user_id=user_id, show_online=True).exists():
        return
    conversations = {
        (low if high == user_id else high): pk
        for pk, low, high in Conversation.objects.for_user(user_id)
        .exclude(user_low_id=F("user_high_id"))
        .values_list("pk", "user_low_id", "user_high_id")
    }
    if not conversations:
        return
    live.publish_on_commit(conversations.keys(), "presence")
    askers = set(
        Profile.objects.filter(
            user_id__in=conversations, notify_online=True, show_online=True,
            user__sent_messages__receiver_id=user_id,
        ).values_list("user_id", flat=True).distinct()
    )  # fmt: skip
    if not askers:
        return
    hour_ago = at - timedelta(seconds=settings.PRESENCE_NOTIFY_EVERY_SECONDS)
    online = Notification.objects.filter(kind=Notification.Kind.ONLINE, user_id__in=askers)
    online.filter(conversation_id__in=[conversations[pk] for pk in askers], created_at__lt=hour_ago).update(
        created_at=at, read=False, actor_id=user_id
    )
    # The first one for a person; a row there already (recent, or just moved) wins.
    Notification.objects.bulk_create(
        [
            Notification(user_id=pk, actor_id=user_id, conversation_id=conversations[pk], kind=Notification.Kind.ONLINE, created_at=at)
            for pk in sorted(askers)
        ],
        ignore_conflicts=True,
    )
    forget_badges_on_commit(*askers)
    live.publish_on_commit(askers, "notifications")


# --- Called by signals ------------------------------------------------------------


def record_edit(message: Message) -> None:
    """Before a stored message is saved: keep its old content if the content changes
    (not when it is deleted: its history goes with it)."""
    if message.deleted_at is not None:
        return
    old = Message.objects.filter(pk=message.pk).values_list("content", flat=True).first()
    if old is None or old == message.content:
        return
    MessageHistory.objects.create(
        message_id=message.pk,
        old_content=old,
        edited_by_id=getattr(message, "_editor_id", None) or message.sender_id,
    )
    message.edited = True


def notify_receiver(message: Message) -> None:
    """After a new message: notify its receiver (nobody, for a note to self)."""
    if message.is_note_to_self:
        return
    kind = Notification.Kind.REPLY if message.parent_message_id else Notification.Kind.MESSAGE
    Notification.objects.create(
        user_id=message.receiver_id, actor_id=message.sender_id, conversation_id=message.conversation_id,
        message=message, kind=kind, created_at=message.timestamp,
    )  # fmt: skip
    forget_badges_on_commit(message.receiver_id)
    live.publish_on_commit([message.receiver_id], "notifications")


def bump_conversation(conversation_id: int, *, people, changed_message_ids=(), last_message_at=None,
                      counts: dict | None = None, recount: bool = False) -> int | None:
    """Raise the conversation's version and stamp the changed messages with it; after
    commit, tell the two `people`'s open pages (live events: the conversation at its new
    version, the inbox). Returns the new version (None if the conversation is gone).
    `counts` changes the kept counts ({"person", "unread", "notifications"}: deltas);
    `recount` counts them again from the rows.

    The UPDATE locks the conversation row until commit, so versions are handed
    out in commit order and a poll that has version N never misses a change <= N.
    """
    found = _next_version(conversation_id, last_message_at=last_message_at, recount=recount, **(counts or {}))
    if found is None:
        return None
    version = found[1]
    if changed_message_ids:
        Message.objects.filter(pk__in=changed_message_ids).update(changed_version=version)
    _publish_conversation(conversation_id, people, version)
    return version


def _publish_conversation(conversation_id: int, people, version: int) -> None:
    live.publish_on_commit(people, live.conversation_event(conversation_id), version)
    live.publish_on_commit(people, "inbox")


def _next_version(conversation_id: int | None, *, pair=None, last_message_at=None, person: int | None = None,
                  unread: int = 0, notifications: int = 0, recount: bool = False,
                  alive_parent: int | None = None) -> tuple[int, int] | None:
    """One UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL) on the conversation (by id, or by
    its ordered `pair`): the version goes up, and with it `last_message_at` and the kept
    counts of `person` change. Returns (conversation id, the version it handed out), or None
    when no row matched (no conversation; or `alive_parent` is deleted)."""
    connection = connections[router.db_for_write(Conversation)]
    qn = connection.ops.quote_name
    table, messages, notes = (qn(m._meta.db_table) for m in (Conversation, Message, Notification))
    assignments, params = ["version = version + 1"], []
    if last_message_at is not None:
        field = Conversation._meta.get_field("last_message_at")
        assignments.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_value(last_message_at, connection))
    if recount:
        for side in ("low", "high"):
            assignments.append(
                f"unread_{side} = (SELECT COUNT(*) FROM {messages} m WHERE m.conversation_id = {table}.id"
                f" AND m.receiver_id = {table}.user_{side}_id AND m.{qn('read')} = %s)"
            )
            assignments.append(
                f"notif_{side} = (SELECT COUNT(*) FROM {notes} n INNER JOIN {messages} m ON m.id = n.message_id"
                f" WHERE m.conversation_id = {table}.id AND n.user_id = {table}.user_{side}_id AND n.{qn('read')} = %s"
                f" AND n.kind IN (%s, %s))"  # read receipts and "came online" are counted apart (unread._count)
            )
            params += [False, False, *Notification.MESSAGE_KINDS]
    elif person is not None and (unread or notifications):
        # A note to self never counts; the pair's own counts live in the low columns.
        for column, delta in (("unread", unread), ("notif", notifications)):
            if delta:
                assignments.append(f"{column}_low = {column}_low + CASE WHEN user_low_id = %s THEN %s ELSE 0 END")
                assignments.append(f"{column}_high = {column}_high + CASE WHEN user_high_id = %s AND "
                                   f"user_low_id <> user_high_id THEN %s ELSE 0 END")  # fmt: skip
                params += [person, delta, person, delta]
    if conversation_id is not None:
        where, where_params = "id = %s", [conversation_id]
    else:
        where, where_params = "user_low_id = %s AND user_high_id = %s", list(pair)
    if alive_parent is not None:
        where += f" AND EXISTS (SELECT 1 FROM {messages} p WHERE p.id = %s AND p.deleted_at IS NULL)"
        where_params.append(alive_parent)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {', '.join(assignments)} WHERE {where} RETURNING id, version",
                       [*params, *where_params])  # fmt: skip
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def touch_conversation(message: Message, *, new_message: bool) -> None:
    """After a message is written or deleted: its conversation's cached fragments are stale.

    A message the actions wrote is already stamped (send_message, reply_to_message): only
    its live events are left. One written any other way (admin, shell) gets its version
    and counts here."""
    if new_message and getattr(message, "_stamped", False):
        _publish_conversation(message.conversation_id, (message.sender_id, message.receiver_id), message.changed_version)
        return
    changed = [message.pk]
    if (new_message or message.deleted_at is not None) and message.parent_message_id:
        changed.append(message.parent_message_id)  # its "N replies" changed
        grandparent = message.parent_message.parent_message_id
        if grandparent:
            changed.append(grandparent)  # whether its replies have replies ("N direct replies")
    if message.deleted_at is not None:
        # Its replies quote it: they now say they answer a deleted message.
        changed += list(Message.objects.filter(parent_message_id=message.pk).values_list("pk", flat=True))
    counts, recount = getattr(message, "_counts", None), False
    if new_message and counts is None and not message.is_note_to_self:
        counts = {"person": message.receiver_id, "unread": int(not message.read), "notifications": 1}
    elif not new_message and counts is None:
        recount = True  # saved or deleted some other way (admin, shell): count again from the rows
    bump_conversation(
        message.conversation_id,
        people=(message.sender_id, message.receiver_id),
        changed_message_ids=changed if message.pk else (),
        last_message_at=message.timestamp if new_message else None,
        counts=counts, recount=recount,
    )
    message._counts = None


def forget_user(user) -> None:
    """After a user row is deleted: remove what CASCADE cannot reach (sessions, cached counts)."""
    end_sessions(user.pk)
    forget_badges_on_commit(user.pk)
    logger.info("account %s deleted", user.pk)


def forget_conversation(conversation: Conversation) -> None:
    """After a conversation is deleted (with one of its people): its cached pages are never served again."""
    caching.forget_conversation(conversation.pk)


def end_sessions_if_password_changed(user) -> None:
    """Before a user is saved: if the password changes, every session of theirs ends, on
    every device, and so does every API token (a token made by someone who had the old
    password must not outlive it). Django's password change view then starts a new
    session for the browser that changed it (update_session_auth_hash)."""
    old = User.objects.filter(pk=user.pk).values_list("password", flat=True).first()
    if old is not None and old != user.password:
        end_sessions(user.pk)
        AuthToken.objects.filter(user_id=user.pk).delete()
