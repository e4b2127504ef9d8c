"""Fetch private data for a user, or raise Http404. Private data is loaded no other way.

A 404 (not 403) for what is not yours: nobody learns whether it exists.
"""

import re

from django.http import Http404
from knox.models import AuthToken

from .models import Conversation, Message, Notification


def get_conversation_for(user, conversation_id) -> Conversation:
    conversation = (
        Conversation.objects.for_user(user)
        .select_related("user_low__profile", "user_high__profile")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def get_message_for(user, message_id, *, to_edit: bool = False, for_display: bool = False) -> Message:
    """A message the user may see (sent or received); with to_edit, one they sent. With
    for_display, with what its row shows (Message.objects.for_display()), in the same query."""
    messages = Message.objects.filter(sender=user) if to_edit else Message.objects.visible_to(user)
    messages = messages.for_display() if for_display else messages.with_people()
    message = messages.filter(pk=message_id).first()
    if message is None:
        raise Http404("No such message.")
    return message


def get_notification_for(user, notification_id) -> Notification:
    notification = (
        Notification.objects.filter(user=user, pk=notification_id).select_related("message__sender__profile", "actor__profile").first()
    )
    if notification is None:
        raise Http404("No such notification.")
    return notification


def get_api_token_for(user, token_key) -> AuthToken:
    """One of the user's API tokens, by the key it starts with (its digest never leaves the database)."""
    # Checked before the query: a NUL (from %00 in a URL) is an error in PostgreSQL, not a miss.
    token = None
    if re.fullmatch(r"\w{1,32}", token_key, re.ASCII):
        token = AuthToken.objects.filter(user=user, token_key=token_key).first()
    if token is None:
        raise Http404("No such token.")
    return token
