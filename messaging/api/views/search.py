"""Search: your messages that match a query, ranked, a page at a time."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from ... import selectors
from ...access import get_conversation_for
from .. import serializers as s
from ..schema import answers
from .base import ApiView, link, query


class SearchView(ApiView):
    @extend_schema(
        operation_id="search_messages", parameters=[s.SearchQuerySerializer],
        responses=answers({200: s.SearchPageSerializer}, 400, 404),
        summary="Your messages (sent or received) that match `q`, best first",
        description="Deleted messages are never found. `next` is the next page (anchored on the last result's rank and id).",
    )  # fmt: skip
    def get(self, request):
        params = query(request, s.SearchQuerySerializer)
        conversation = None
        if "conversation" in params:
            conversation = get_conversation_for(request.user, params["conversation"])
        page = selectors.search_messages(
            request.user, params["q"], conversation=conversation, before=params.get("before"), size=params["limit"]
        )
        next_link = None
        if page.next_before:
            next_link = link(request, q=params["q"], conversation=params.get("conversation"), before=page.next_before,
                             limit=params["limit"])  # fmt: skip
        data = s.SearchPageSerializer({"results": page.results, "next": next_link}, context={"user_id": request.user.pk}).data
        return Response(data)
