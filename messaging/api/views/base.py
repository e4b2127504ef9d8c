"""What every API view shares: the body limit, private responses, reading input, links."""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlencode

from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ...pagination import AnchoredPage, Page
from ...ratelimit import LIMIT_MESSAGES, rate_limited
from ..errors import RateLimited, field_errors
from ..parsers import check_body_size
from ..serializers import CursorPageQuery


# Comments, not docstrings, on these bases: drf-spectacular publishes a view's docstring,
# inherited ones included, as each operation's description.
class ApiView(APIView):
    # Every API view: the body limit first, and private responses.

    def initial(self, request, *args, **kwargs):
        check_body_size(request)  # before anything is read or looked up
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Private data: no proxy or browser keeps it (the server may: caching.py).
        response["Cache-Control"] = "private, no-store"
        return response


def limit(request, scope: str) -> None:
    """Count the request against the HTML's rate limit `scope` (messaging.ratelimit); 429 over it.
    Checked before the input, as the forms are refused before they are validated."""
    wait = rate_limited(request._request, scope)
    if wait is not None:
        raise RateLimited(LIMIT_MESSAGES[scope], wait=wait)


def validated(data, serializer_class) -> dict:
    """Input of the right types (400 with field errors otherwise)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def query(request, serializer_class) -> dict:
    return validated(request.query_params, serializer_class)


def cleaned(form) -> dict:
    """The HTML form's cleaned data: its rules and its messages, for the API too."""
    if not form.is_valid():
        raise ValidationError(field_errors(form.errors))
    return form.cleaned_data


def link(request, **params) -> str:
    """This URL with other query parameters (relative: the same for any Host, so it can be cached)."""
    return f"{request.path}?{urlencode({k: v for k, v in params.items() if v is not None})}"


def message_page(request, page: AnchoredPage, serializer_class, *, size: int, **extra) -> dict:
    """A page of messages, newest first, with the links to the pages around it."""
    items = page.items
    return serializer_class(
        {
            "results": items,
            "older": link(request, before=items[-1].pk, limit=size) if items and page.has_older else None,
            "newer": link(request, after=items[0].pk, limit=size) if items and page.has_newer else None,
            **extra,
        }
    ).data


class CursorListView(ApiView):
    # A list of the user's rows ordered by time (conversations, notifications), a page at a time
    # after the `cursor` that the page before gave as `next`. Subclasses name the selector and
    # the serializer, and their schema with extend_schema_view. A query serializer with more
    # fields than cursor and limit (a filter, such as ?kind=) passes them to the selector, and
    # the next page keeps them.

    page_of: Callable  # a selector: (user, *, cursor, size, **filters) -> Page
    page_serializer: type
    query_serializer: type = CursorPageQuery

    def get(self, request):
        params = query(request, self.query_serializer)
        cursor, limit = params.pop("cursor", None), params.pop("limit")
        filters = {name: value for name, value in params.items() if value not in (None, "")}
        page: Page = type(self).page_of(request.user, cursor=cursor, size=limit, **filters)
        next_link = link(request, cursor=page.next_cursor, limit=limit, **filters) if page.has_next else None
        return Response(self.page_serializer({"results": page.items, "next": next_link}).data)
