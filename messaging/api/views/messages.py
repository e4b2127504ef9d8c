"""Messages: send or reply, read, edit (If-Match), delete, thread, history, unread."""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ... import actions, selectors
from ...access import get_message_for
from ...forms import ComposeForm, EditForm, ReplyForm
from .. import serializers as s
from ..errors import etag
from ..schema import ETAG, IF_MATCH, answers, body_errors
from .base import ApiView, cleaned, limit, link, message_page, query, validated


def shown_with_people(row, like):
    """`row` (as an action returns it) with the people of `like`, already loaded: the
    answer never reads them back (the partner may be deleting their account meanwhile)."""
    row.sender, row.receiver = like.sender, like.receiver
    return row


def if_match(request) -> str:
    """The content token in If-Match: an ETag, quoted or not, maybe weak; "" for none or "*"."""
    raw = request.headers.get("If-Match", "").strip()
    if raw in ("", "*"):
        return ""
    return raw.removeprefix("W/").strip('"') or "stale"


class MessageSendView(ApiView):
    @extend_schema(
        operation_id="send_message", request=s.SEND_BODY,
        responses=answers({201: s.MessageSerializer}, *body_errors(429)),
        summary="Send a message to a username, or a reply to a message",
    )  # fmt: skip
    def post(self, request):
        limit(request, "send")
        data = validated(request.data, s.SendSerializer)
        if "reply_to" in data:
            try:
                parent = get_message_for(request.user, data["reply_to"])
            except Http404:
                raise ValidationError({"reply_to": ["No such message."]}) from None
            content = cleaned(ReplyForm({"content": data["content"]}))["content"]
            message = actions.reply_to_message(parent, sender=request.user, content=content)
            partner = parent.sender if parent.receiver_id == request.user.pk else parent.receiver
            message.sender, message.receiver = request.user, partner
        else:
            form = cleaned(ComposeForm({"to": data["to"], "content": data["content"]}))
            message = actions.send_message(request.user, to=form["to"], content=form["content"])
        headers = {"ETag": etag(message), "Location": reverse("api:message-detail", args=[message.pk])}
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED, headers=headers)


class MessageDetailView(ApiView):
    @extend_schema(
        operation_id="get_message", responses=answers({200: s.MessageSerializer}, 404), parameters=[ETAG],
        summary="A message you sent or received",
    )  # fmt: skip
    def get(self, request, message_id):
        message = get_message_for(request.user, message_id)
        return Response(s.MessageSerializer(message).data, headers={"ETag": etag(message)})

    @extend_schema(
        operation_id="edit_message", request=s.EditSerializer, parameters=[IF_MATCH],
        responses=answers({200: s.MessageSerializer}, *body_errors(404, 409, 429)),
        summary="Edit your message (the sender only)",
    )  # fmt: skip
    def patch(self, request, message_id):
        message = get_message_for(request.user, message_id, to_edit=True)
        limit(request, "edit")
        data = validated(request.data, s.EditSerializer)
        form = cleaned(EditForm({"content": data["content"], "base": if_match(request)}))
        try:
            edited = actions.edit_message(message, editor=request.user, content=form["content"], base_token=form["base"] or None)
        except actions.EditConflict as conflict:
            shown_with_people(conflict.current, message)
            raise
        edited = shown_with_people(edited, message)
        return Response(s.MessageSerializer(edited).data, headers={"ETag": etag(edited)})

    @extend_schema(
        operation_id="delete_message", responses=answers({204: OpenApiResponse(description="Deleted (or already)")}, 403, 404),
        summary="Delete your message, for both people (the sender only)",
    )  # fmt: skip
    def delete(self, request, message_id):
        message = get_message_for(request.user, message_id, to_edit=True)
        actions.delete_message(message, by=request.user)  # twice is done once
        return Response(status=status.HTTP_204_NO_CONTENT)


class ThreadView(ApiView):
    @extend_schema(
        operation_id="get_thread", responses=answers({200: s.ThreadSerializer}, 404),
        summary="A message and every reply below it, each with its depth",
    )  # fmt: skip
    def get(self, request, message_id):
        root = get_message_for(request.user, message_id)
        thread = selectors.thread(root)
        replies = [node.message for node in thread.nodes]
        return Response(s.ThreadSerializer({"root": root, "replies": replies, "version": thread.version}).data)


class HistoryView(ApiView):
    @extend_schema(
        operation_id="get_history", parameters=[s.HistoryQuery], responses=answers({200: s.HistoryPageSerializer}, 400, 404),
        summary="A message's earlier versions, with the words each edit changed",
    )  # fmt: skip
    def get(self, request, message_id):
        message = get_message_for(request.user, message_id)
        before = query(request, s.HistoryQuery).get("before")
        page = selectors.history_page(message, before=before)
        # A deleted message has no versions: its text and its history went with it.
        versions = [] if message.is_deleted else page.versions
        older = link(request, before=page.next_before) if page.next_before and versions else None
        return Response(s.HistoryPageSerializer({"versions": versions, "older": older}).data)


class UnreadView(ApiView):
    @extend_schema(
        operation_id="list_unread", parameters=[s.MessagePageQuery], responses=answers({200: s.UnreadPageSerializer}, 400),
        summary="Your unread messages, newest first",
    )  # fmt: skip
    def get(self, request):
        params = query(request, s.MessagePageQuery)
        page = selectors.unread_messages(request.user, before=params.get("before"), after=params.get("after"), size=params["limit"])
        return Response(message_page(request, page, s.UnreadPageSerializer, size=params["limit"]))
