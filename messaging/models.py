from __future__ import annotations

import functools
import zoneinfo

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MinLengthValidator
from django.db import models
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Q, Subquery, Sum, Value, When
from django.urls import reverse
from django.utils import timezone
from django_cte import CTE, with_cte

MAX_CONTENT_LENGTH = 5000


def clean_content(value: str) -> str:
    """Strip surrounding whitespace and check the length; never truncate."""
    content = (value or "").strip()
    if not content:
        raise ValidationError("A message can't be empty.", code="empty")
    if len(content) > MAX_CONTENT_LENGTH:
        raise ValidationError(
            f"A message can have at most {MAX_CONTENT_LENGTH:,} characters (it has {len(content):,}).",
            code="too_long",
        )
    if "\x00" in content:
        raise ValidationError("A message can't contain NUL characters.", code="nul")
    return content


class ConversationQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(Q(user_low=user) | Q(user_high=user))

    def between(self, a, b):
        low, high = sorted([a.pk, b.pk])
        return self.filter(user_low_id=low, user_high_id=high)

    def with_inbox_columns(self, user):
        """Annotate the last message's id (one subquery) and the user's unread count (a kept count)."""
        last = Message.objects.filter(conversation=OuterRef("pk"), deleted_at=None).order_by("-pk").values("pk")[:1]
        return self.select_related("user_low__profile", "user_high__profile").annotate(
            last_message_id=Subquery(last),
            unread_count=Case(When(user_low=user, then=F("unread_low")), default=F("unread_high")),
        )

    def unread_totals(self, user_id: int) -> tuple[int, int]:
        """The user's unread messages and unread notifications, in one query: summed from the
        kept counts of their conversations (one row per conversation, never per message), and
        the read receipts and "came online" notices counted as they are (at most one of each
        kind per conversation, kept in place: never more rows than conversations)."""
        in_place = (
            Notification.objects.filter(user_id=user_id, read=False).exclude(kind__in=Notification.MESSAGE_KINDS)
            .order_by().values("user_id").annotate(n=Count("pk")).values("n")
        )
        row = self.filter(Q(user_low_id=user_id) | Q(user_high_id=user_id)).aggregate(
            messages=Sum(Case(When(user_low_id=user_id, then=F("unread_low")), default=F("unread_high"))),
            notifications=Sum(Case(When(user_low_id=user_id, then=F("notif_low")), default=F("notif_high"))),
            in_place=Max(Subquery(in_place)),
        )
        return row["messages"] or 0, (row["notifications"] or 0) + (row["in_place"] or 0)


class ConversationManager(models.Manager.from_queryset(ConversationQuerySet)):
    def get_or_create_between(self, a, b) -> Conversation:
        low, high = sorted([a.pk, b.pk])
        conversation, _ = self.get_or_create(user_low_id=low, user_high_id=high)
        return conversation


class Conversation(models.Model):
    """The pair of users who write to each other (a user may also write to themselves).

    The pair is stored ordered (user_low.pk <= user_high.pk) so it is unique per
    unordered pair. `version` goes up on every change to the conversation's
    messages; cached fragments put it in their URL, so a cached page can never
    hide a newer message, whichever process cached it.
    """

    user_low = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user_high = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_message_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)
    # Kept counts, per person: unread messages to user_low / user_high, and their unread
    # notifications. Counting them costs what the unread count is; reading them costs one
    # row per conversation. Only the actions change them, in the UPDATE that raises
    # `version`, while both people's rows are locked (see actions._lock_people), so
    # writers of one conversation take turns and the counts stay exact. They go with
    # the conversation (CASCADE) when either person deletes their account.
    unread_low = models.PositiveIntegerField(default=0, editable=False)
    unread_high = models.PositiveIntegerField(default=0, editable=False)
    notif_low = models.PositiveIntegerField(default=0, editable=False)
    notif_high = models.PositiveIntegerField(default=0, editable=False)

    objects = ConversationManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_low", "user_high"], name="conversation_unique_pair"),
            models.CheckConstraint(condition=Q(user_low__lte=F("user_high")), name="conversation_ordered_pair"),
        ]
        indexes = [
            models.Index(fields=["user_low", "-last_message_at"], name="conv_low_recent_idx"),
            models.Index(fields=["user_high", "-last_message_at"], name="conv_high_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_low} ↔ {self.user_high}"

    def get_absolute_url(self) -> str:
        return reverse("messaging:conversation-detail", args=[self.pk])

    def has_participant(self, user) -> bool:
        return user.pk in (self.user_low_id, self.user_high_id)

    def other(self, user):
        """The other participant, as seen by `user` (themselves for notes to self)."""
        return self.other_by_id(user.pk)

    def other_by_id(self, user_id):
        return self.user_high if user_id == self.user_low_id else self.user_low

    @property
    def is_self(self) -> bool:
        return self.user_low_id == self.user_high_id


class MessageQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(Q(sender=user) | Q(receiver=user))

    def in_conversation(self, conversation):
        return self.filter(conversation=conversation)

    def changed_between(self, since: int, until: int):
        return self.filter(changed_version__gt=since, changed_version__lte=until)

    def alive(self):
        """Not deleted."""
        return self.filter(deleted_at=None)

    def shown(self):
        """What a conversation shows: live messages, and deleted ones that still have live
        replies (as a "Message deleted" placeholder, so the thread reads)."""
        live_reply = Message.objects.filter(parent_message=OuterRef("pk"), deleted_at=None)
        return self.filter(Q(deleted_at=None) | Exists(live_reply))

    def for_display(self, *, people: bool = True):
        """What a message row shows: its people, the message it answers, its live reply count.

        people=False: the people are not joined (the caller has them: a conversation's rows
        are between its two people, see selectors.conversation_page)."""
        nested = Message.objects.filter(parent_message__parent_message=OuterRef("pk"), deleted_at=None)
        # Counted per row in a subquery, not by joining and grouping: a page's LIMIT then
        # applies first, instead of after grouping every message of the conversation.
        replies = (
            Message.objects.filter(parent_message=OuterRef("pk"), deleted_at=None)
            .order_by().values("parent_message").annotate(n=Count("pk")).values("n")
        )
        joined = ("sender__profile", "receiver__profile", "parent_message__sender__profile") if people else ("parent_message",)
        return self.select_related(*joined).annotate(
            reply_count=models.functions.Coalesce(Subquery(replies), Value(0)),
            # Replies to its replies: then its count is of direct replies, and says so.
            has_nested_replies=Exists(nested),
        )

    def with_people(self):
        return self.select_related("sender__profile", "receiver__profile")

    def thread_of(self, root: Message):
        """The root and every reply below it, at any depth, in one recursive query.

        Each row carries `depth` (0 for the root). Sender and receiver are joined.
        """

        def descendants(cte):
            return (
                Message.objects.filter(pk=root.pk)
                .order_by()
                .values("id", depth=Value(0, output_field=models.IntegerField()))
                .union(
                    cte.join(Message, parent_message_id=cte.col.id)
                    .order_by()
                    .values(
                        "id", depth=cte.col.depth + Value(1, output_field=models.IntegerField())
                    ),
                    all=True,
                )
            )

        cte = CTE.recursive(descendants)
        return with_cte(
            cte,
            select=cte.join(self.model, id=cte.col.id)
            .select_related("sender__profile", "receiver__profile")
            .annotate(depth=cte.col.depth)
            .order_by("timestamp", "pk"),
        )


class UnreadMessagesManager(models.Manager):
    """`Message.unread`: messages nobody has read yet."""

    # Just what an inbox row shows: who, what, when, and where to link.
    INBOX_FIELDS = (
        "id",
        "content",
        "timestamp",
        "conversation_id",
        "parent_message_id",
        "receiver_id",
        "sender_id",
        "sender__id",
        "sender__username",
        "sender__profile__user_id",
        "sender__profile__display_name",
    )

    def get_queryset(self):
        return MessageQuerySet(self.model, using=self._db).filter(read=False)

    def for_user(self, user):
        return (
            self.get_queryset()
            .filter(receiver=user)
            .select_related("sender__profile")
            .only(*self.INBOX_FIELDS)
            .order_by("-timestamp", "-pk")
        )

    def unread_count(self, user) -> int:
        """The kept count (Conversation.unread_low/high): the same number as counting the rows."""
        return Conversation.objects.unread_totals(getattr(user, "pk", user))[0]


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", editable=False
    )
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_messages")
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="received_messages"
    )
    content = models.TextField(
        validators=[MinLengthValidator(1), MaxLengthValidator(MAX_CONTENT_LENGTH)],
    )
    timestamp = models.DateTimeField(default=timezone.now)
    edited = models.BooleanField(default=False)
    read = models.BooleanField(default=False)
    parent_message = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    # The conversation version at which this row last changed (sent, edited,
    # read, replied to, deleted): a poll asks for the rows changed since the version it has.
    changed_version = models.PositiveBigIntegerField(default=0, editable=False)
    # Deleted by its sender: the text is gone; the row stays while replies need it (and so
    # that open pages learn it is gone).
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = MessageQuerySet.as_manager()
    unread = UnreadMessagesManager()

    class Meta:
        default_manager_name = "objects"
        base_manager_name = "objects"
        ordering = ["timestamp", "pk"]
        indexes = [
            # A conversation's messages, newest first (pages, polls, last message).
            models.Index(fields=["conversation", "-id"], name="msg_conversation_recent_idx"),
            # Replies of a message in order (the recursive thread query joins on it).
            models.Index(fields=["parent_message", "timestamp"], name="msg_replies_idx"),
            # The unread inbox page: partial where the database supports it, in the page's exact
            # order (the pk breaks ties), so no planner, with or without statistics, needs a sort.
            models.Index(
                fields=["receiver", "-timestamp", "-id"], condition=Q(read=False), name="msg_unread_page_idx"
            ),
            # What changed in a conversation since a version (the live poll).
            models.Index(fields=["conversation", "changed_version"], name="msg_conversation_changes_idx"),
            # Unread per conversation (inbox counts, mark-read).
            models.Index(
                fields=["conversation", "receiver"], condition=Q(read=False), name="msg_unread_conv_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sender} → {self.receiver}: {self.content[:40]}"

    def get_absolute_url(self) -> str:
        return f"{reverse('messaging:conversation-detail', args=[self.conversation_id])}#message-{self.pk}"

    def get_around_url(self) -> str:
        """Its conversation, opened around it (however old it is), scrolled to it."""
        url = reverse("messaging:conversation-detail", args=[self.conversation_id])
        return f"{url}?around={self.pk}#message-{self.pk}"

    def get_thread_url(self) -> str:
        return reverse("messaging:thread-detail", args=[self.pk])

    @property
    def is_note_to_self(self) -> bool:
        return self.sender_id == self.receiver_id

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def clean(self):
        if self.deleted_at is not None:
            return  # a deleted message has no text to check
        try:
            self.content = clean_content(self.content)
        except ValidationError as error:
            raise ValidationError({"content": error.messages}) from None
        # The parent is checked when the reply is written; later saves keep it.
        if self._state.adding and self.parent_message_id is not None:
            parent = self.parent_message
            if {parent.sender_id, parent.receiver_id} != {self.sender_id, self.receiver_id}:
                raise ValidationError(
                    {"parent_message": "A reply must stay between the two people of the message it answers."}
                )

    def save(self, *args, update_fields=None, **kwargs):
        # Validation runs on every save, so Message.objects.create() from a shell
        # rejects what the forms reject instead of storing it or truncating it.
        self.clean()
        if self.conversation_id is None:
            if self.parent_message_id is not None:
                self.conversation_id = self.parent_message.conversation_id
            else:
                self.conversation = Conversation.objects.get_or_create_between(self.sender, self.receiver)
        if self._state.adding and self.is_note_to_self:
            self.read = True  # a note to self is never "unread"
        if update_fields is not None and "content" in update_fields:
            # The pre_save signal sets `edited` when the content really changes.
            update_fields = {*update_fields, "edited"}
        super().save(*args, update_fields=update_fields, **kwargs)


class Notification(models.Model):
    """Something for `user` to know, done by `actor`.

    "message" and "reply": one per message received (`message` is it). "read" (the
    actor read your messages: `message` is the newest of them) and "online" (the actor
    came online) are one per conversation, updated in place: moved to now and unread again.
    """

    class Kind(models.TextChoices):
        MESSAGE = "message", "New message"
        REPLY = "reply", "New reply"
        READ = "read", "Read"
        ONLINE = "online", "Came online"

    # The kinds kept once per (user, conversation), updated in place rather than repeated.
    IN_PLACE_KINDS = (Kind.READ, Kind.ONLINE)
    # The kinds about one message: read with it, and kept in the conversation's counts
    # (Conversation.notif_low/notif_high); the others are counted apart (unread._count).
    MESSAGE_KINDS = (Kind.MESSAGE, Kind.REPLY)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MESSAGE)
    created_at = models.DateTimeField(default=timezone.now)
    read = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notif_user_recent_idx"),
            models.Index(fields=["user"], condition=Q(read=False), name="notif_unread_idx"),
            models.Index(fields=["user", "kind", "-created_at"], name="notif_user_kind_recent_idx"),
        ]
        constraints = [
            # However many messages are read at once, or by how many tabs concurrently:
            # one "read" (and one "online") notification per person and conversation.
            models.UniqueConstraint(
                fields=["user", "kind", "conversation"],
                condition=Q(kind__in=["read", "online"]),
                name="notif_one_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user}"


def valid_time_zone(name: str) -> None:
    if name and (len(name) > 64 or name not in available_time_zones()):
        raise ValidationError("Choose a time zone from the list (e.g. Europe/Paris).", code="time_zone")


@functools.lru_cache(maxsize=1)
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class ProfileQuerySet(models.QuerySet):
    def with_counts(self):
        """Each profile's messages sent and notifications, one subquery each (the admin's list)."""
        sent = Message.objects.filter(sender=OuterRef("pk")).order_by().values("sender").annotate(n=Count("pk")).values("n")
        notifications = (
            Notification.objects.filter(user=OuterRef("pk")).order_by().values("user").annotate(n=Count("pk")).values("n")
        )
        return self.select_related("user").annotate(
            message_count=models.functions.Coalesce(Subquery(sent), Value(0)),
            notification_count=models.functions.Coalesce(Subquery(notifications), Value(0)),
        )


class Profile(models.Model):
    """One per user (created with the user: signals.user_post_save, and migration 0005 for
    the users who existed), keyed by the user."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="profile")
    display_name = models.CharField(
        max_length=50, blank=True, help_text="Shown instead of your username, with the username beside it."
    )
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[valid_time_zone],
        help_text="Times are shown in it. Set from your browser when you first sign in.",
    )  # fmt: skip
    show_online = models.BooleanField(
        "Show when I'm online", default=True,
        help_text="Off: nobody sees when you are online or were last seen, and you don't see it of others.",
    )  # fmt: skip
    notify_online = models.BooleanField(
        "Tell me when someone I write to comes online", default=False,
        help_text="At most once an hour per person.",
    )  # fmt: skip
    # Written by the heartbeat at most once a minute (presence.py); the cache knows better in between.
    last_seen = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ProfileQuerySet.as_manager()

    def __str__(self) -> str:
        return self.display_name or self.user.username

    def clean(self):
        self.display_name = " ".join(self.display_name.split())


class MessageHistory(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="history")
    old_content = models.TextField()
    edited_at = models.DateTimeField(default=timezone.now)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-edited_at", "-pk"]
        verbose_name_plural = "message histories"
        indexes = [models.Index(fields=["message", "-edited_at"], name="history_message_idx")]

    def __str__(self) -> str:
        return f"Version of message {self.message_id} before {self.edited_at:%Y-%m-%d %H:%M}"


class UserSession(AbstractBaseSession):
    """A session row that knows its user (messaging.sessions), so all of a user's sessions can end at once.

    A plain column, not a foreign key: deleting a user ends their sessions in the
    user's post_delete signal, which also clears them from the cache.
    """

    user_id = models.BigIntegerField(null=True, db_index=True)

    class Meta(AbstractBaseSession.Meta):
        db_table = "messaging_session"

    @classmethod
    def get_session_store_class(cls):
        from .sessions import SessionStore

        return SessionStore
