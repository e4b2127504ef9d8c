"""What the API says, and the shape of what it reads.

Output serializers only read attributes the selectors already loaded (no query per row:
the query-count tests pin it). Input serializers check types only; the rules (a message's
length, who can be written to, the password) are the forms' and the actions', the same
as for the HTML pages (api/views/base.py `validated`).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from .. import actions
from ..models import Notification
from ..search import MAX_QUERY_LENGTH
from ..templatetags.chat import display_name

MAX_ID = 2**63 - 1


def message_id(**kwargs):
    """A row id: bounded, so a huge number is a 400 rather than an out-of-range query."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class DisplayNameField(serializers.CharField):
    """A person's display name, or their username when they have none (from the profile
    loaded with them: never a query)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("help_text", "Their display name, or their username when they have none.")
        super().__init__(**kwargs)

    def to_representation(self, person):
        return display_name(person)


class PresenceSerializer(serializers.Serializer):
    online = serializers.BooleanField()
    last_seen = serializers.DateTimeField(allow_null=True, help_text="To the minute; null when never seen.")


# --- Messages ---------------------------------------------------------------------------


class MessageSummarySerializer(serializers.Serializer):
    """A message as a list of someone's unread messages or notifications shows it."""

    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    sender = serializers.CharField(source="sender.username")
    sender_display_name = DisplayNameField(source="sender")
    content = serializers.CharField()
    sent_at = serializers.DateTimeField(source="timestamp")
    parent = serializers.IntegerField(source="parent_message_id", allow_null=True)


class MessageSerializer(serializers.Serializer):
    """One message. A deleted one (kept as a placeholder while it has replies) has no text."""

    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    sender = serializers.CharField(source="sender.username")
    receiver = serializers.CharField(source="receiver.username")
    content = serializers.SerializerMethodField()
    content_token = serializers.SerializerMethodField(help_text="Send it back in If-Match to edit without overwriting a newer edit.")
    deleted = serializers.BooleanField(source="is_deleted")
    edited = serializers.BooleanField()
    read = serializers.BooleanField()
    sent_at = serializers.DateTimeField(source="timestamp")
    parent = serializers.IntegerField(source="parent_message_id", allow_null=True)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_content(self, message):
        return None if message.is_deleted else message.content

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_content_token(self, message):
        return None if message.is_deleted else actions.content_token(message.content)


class ConversationMessageSerializer(MessageSerializer):
    reply_count = serializers.IntegerField(help_text="Live replies to this message.")


class ThreadMessageSerializer(MessageSerializer):
    depth = serializers.IntegerField(help_text="1 for a reply to the root, 2 for a reply to that, ...")


class ThreadSerializer(serializers.Serializer):
    root = MessageSerializer()
    replies = ThreadMessageSerializer(many=True, help_text="Depth first, in the order the thread page shows them.")
    version = serializers.IntegerField(help_text="The conversation version of the latest change in the thread.")


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True, help_text="Newest first.")
    older = serializers.CharField(allow_null=True, help_text="The next page back (before the oldest here), if any.")
    newer = serializers.CharField(allow_null=True, help_text="The page after the newest here, when there may be one.")


class ConversationMessagePageSerializer(MessagePageSerializer):
    results = ConversationMessageSerializer(many=True, help_text="Newest first.")
    version = serializers.IntegerField(help_text="The conversation's version: it goes up on every change.")


class UnreadPageSerializer(MessagePageSerializer):
    results = MessageSummarySerializer(many=True, help_text="Newest first.")


class ChangeSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False)
    change = serializers.ChoiceField(choices=["same", "added", "removed"])


class VersionSerializer(serializers.Serializer):
    content = serializers.CharField(trim_whitespace=False)
    written_at = serializers.DateTimeField(source="at")
    current = serializers.BooleanField(source="is_current")
    changes = ChangeSerializer(many=True, source="chunks", help_text="Word by word, from the version before it.")


class HistoryPageSerializer(serializers.Serializer):
    versions = VersionSerializer(many=True, help_text="Newest first; the first page starts with the current text.")
    older = serializers.CharField(allow_null=True)


# --- Conversations, notifications, people ---------------------------------------------------


class LastMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sender = serializers.CharField(source="sender.username")
    content = serializers.CharField()
    sent_at = serializers.DateTimeField(source="timestamp")


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    partner = serializers.CharField(source="partner.username", help_text="The other person (you, for notes to self).")
    partner_display_name = DisplayNameField(source="partner")
    partner_presence = PresenceSerializer(
        source="partner.presence", allow_null=True,
        help_text="Online, or when last seen; null when they or you hide it (Settings), and for notes to self.",
    )  # fmt: skip
    last_message = LastMessageSerializer(allow_null=True)
    last_message_at = serializers.DateTimeField()
    unread_count = serializers.IntegerField()
    version = serializers.IntegerField()


class CursorPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="The next page (older), if any.")


class ConversationPageSerializer(CursorPageSerializer):
    results = ConversationSerializer(many=True, help_text="Latest activity first.")


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Notification.Kind.choices)
    read = serializers.BooleanField()
    created_at = serializers.DateTimeField(help_text="A read or came-online notification moves to when it last happened.")
    actor = serializers.CharField(source="actor.username", allow_null=True, help_text="Who sent, read or came online.")
    actor_display_name = DisplayNameField(source="actor", allow_null=True)
    conversation = serializers.IntegerField(source="conversation_id", allow_null=True)
    message = MessageSummarySerializer(
        allow_null=True, help_text="The message (for a read one: the newest of yours they read); null when came online.",
    )  # fmt: skip


class NotificationPageSerializer(CursorPageSerializer):
    results = NotificationSerializer(many=True, help_text="Newest first.")


class SearchResultSerializer(MessageSummarySerializer):
    partner = serializers.SerializerMethodField(help_text="The other person of the conversation (you, for notes to self).")
    rank = serializers.FloatField(source="search_rank", help_text="How well it matches: higher first.")

    def get_partner(self, message) -> str:
        return message.conversation.other_by_id(self.context["user_id"]).username


class SearchPageSerializer(CursorPageSerializer):
    results = SearchResultSerializer(many=True, help_text="Best match first, then newest.")


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many changed (0 when they already were).")


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField(allow_blank=True)
    time_zone = serializers.CharField(allow_blank=True)
    show_online = serializers.BooleanField()
    notify_online = serializers.BooleanField()
    date_joined = serializers.DateTimeField()
    unread_count = serializers.IntegerField()


class UsernamesSerializer(serializers.Serializer):
    results = serializers.ListField(child=serializers.CharField(), help_text="Usernames only, alphabetical.")


# --- Input: types only (the rules are the forms') ----------------------------------------------


class SendSerializer(serializers.Serializer):
    to = serializers.CharField(required=False, trim_whitespace=False, help_text="A username: a new message to them.")
    reply_to = message_id(required=False, help_text="A message id: a reply to it, in its conversation.")
    content = serializers.CharField(trim_whitespace=False, allow_blank=True)

    def validate(self, data):
        if ("to" in data) == ("reply_to" in data):
            raise serializers.ValidationError("Give either `to` (a username) or `reply_to` (a message id).")
        return data


class SendToSerializer(serializers.Serializer):
    to = serializers.CharField(trim_whitespace=False, help_text="A username: a new message to them.")
    content = serializers.CharField(trim_whitespace=False, allow_blank=True)


class ReplySerializer(serializers.Serializer):
    reply_to = message_id(help_text="A message id: a reply to it, in its conversation.")
    content = serializers.CharField(trim_whitespace=False, allow_blank=True)


# The schema says "one or the other" (oneOf); SendSerializer reads both and checks it.
SEND_BODY = PolymorphicProxySerializer(
    component_name="Send", serializers=[SendToSerializer, ReplySerializer], resource_type_field_name=None
)


class EditSerializer(serializers.Serializer):
    content = serializers.CharField(trim_whitespace=False, allow_blank=True)


class PasswordSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, allow_blank=True)


class MessagePageQuery(serializers.Serializer):
    before = message_id(required=False, help_text="Messages older than this message id.")
    after = message_id(required=False, help_text="Messages newer than this message id.")
    limit = serializers.IntegerField(min_value=1, max_value=settings.API_MAX_PAGE_SIZE, default=settings.API_PAGE_SIZE)

    def validate(self, data):
        if "before" in data and "after" in data:
            raise serializers.ValidationError("Give `before` or `after`, not both.")
        return data


class CursorPageQuery(serializers.Serializer):
    cursor = serializers.CharField(required=False, max_length=100, help_text="The `next` of the page before.")
    limit = serializers.IntegerField(min_value=1, max_value=settings.API_MAX_PAGE_SIZE, default=settings.API_PAGE_SIZE)


class NotificationPageQuery(CursorPageQuery):
    kind = serializers.ChoiceField(
        choices=Notification.Kind.choices, required=False, help_text="Only notifications of this kind."
    )


class HistoryQuery(serializers.Serializer):
    before = message_id(required=False, help_text="Versions older than this history row (the `older` of the page before).")


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=MAX_QUERY_LENGTH, allow_blank=True, default="", trim_whitespace=False,
        help_text='Words (all must appear), "a phrase", -word to leave out, `or` between alternatives. '
        "Any text is a valid query; an empty one finds nothing.",
    )  # fmt: skip
    conversation = message_id(required=False, help_text="Only in this conversation of yours (404 if it is not yours).")
    before = serializers.CharField(required=False, max_length=100, help_text="The `next` page's anchor, as the page before gave it.")
    limit = serializers.IntegerField(min_value=1, max_value=settings.API_MAX_PAGE_SIZE, default=settings.API_PAGE_SIZE)


class UserSearchQuery(serializers.Serializer):
    prefix = serializers.CharField(max_length=150, allow_blank=True, default="", help_text="The start of a username.")


class ErrorSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="400: each field's errors (`non_field_errors` for the request as a whole).",
    )  # fmt: skip
    current = MessageSerializer(required=False, help_text="409: the message as it is now.")
    retry_after = serializers.IntegerField(required=False, help_text="429: seconds to wait (also Retry-After).")
