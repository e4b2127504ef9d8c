"""Conversations: the list (last message, unread count), a conversation's messages (cached), mark read."""

from __future__ import annotations

from urllib.parse import urlencode

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response

from ... import actions, caching, selectors
from ...access import get_conversation_for
from .. import serializers as s
from ..schema import answers
from .base import ApiView, CursorListView, message_page, query


@extend_schema_view(
    get=extend_schema(
        operation_id="list_conversations", parameters=[s.CursorPageQuery],
        responses=answers({200: s.ConversationPageSerializer}, 400),
        summary="Your conversations, latest activity first, with their last message and unread count",
    )
)  # fmt: skip
class ConversationListView(CursorListView):
    page_of = staticmethod(selectors.conversations_page)
    page_serializer = s.ConversationPageSerializer


class ConversationMessagesView(ApiView):
    @extend_schema(
        operation_id="list_conversation_messages", parameters=[s.MessagePageQuery],
        responses=answers({200: s.ConversationMessagePageSerializer}, 400, 404),
        summary="A conversation's messages, newest first (cached per person and conversation version)",
        description="Reading them does not mark them read: POST …/read/ does.",
    )  # fmt: skip
    def get(self, request, conversation_id):
        params = query(request, s.MessagePageQuery)
        conversation = get_conversation_for(request.user, conversation_id)

        def build():
            page = selectors.conversation_messages(
                conversation, before=params.get("before"), after=params.get("after"), size=params["limit"]
            )
            serializer = s.ConversationMessagePageSerializer
            return message_page(request, page, serializer, size=params["limit"], version=conversation.version)

        data = caching.cached_api_messages(request.user, conversation, urlencode(sorted(params.items())), build)
        return Response(data)


class ConversationReadView(ApiView):
    @extend_schema(
        operation_id="mark_conversation_read", request=None, responses=answers({200: s.MarkedSerializer}, 403, 404),
        summary="Mark every message to you in the conversation read",
    )  # fmt: skip
    def post(self, request, conversation_id):
        conversation = get_conversation_for(request.user, conversation_id)
        return Response({"marked": actions.mark_conversation_read(conversation, user=request.user)})
