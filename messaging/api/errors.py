"""Every API error as JSON in one shape, with the right status; never HTML, never a 500 page.

    {"status": 404, "code": "not_found", "detail": "No such message."}

400s add `fields` (each field's messages, `non_field_errors` for the rest), 409 adds
`current` (the message as it is now), 429 adds `retry_after` (also the Retry-After header).
A 403 is only ever a CSRF refusal: what is not yours is a 404, as in the HTML.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from .. import actions

logger = logging.getLogger("messaging")

API_PREFIX = "/api/"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class RateLimited(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "rate_limited"

    def __init__(self, detail: str, *, wait: int):
        super().__init__(detail)
        self.wait = wait


def field_errors(error: DjangoValidationError | dict) -> dict[str, list[str]]:
    """A form's or an action's errors as {field: [messages]} (`__all__` is `non_field_errors`)."""
    if isinstance(error, DjangoValidationError):
        error = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    return {("non_field_errors" if field == "__all__" else field): [str(m) for m in messages] for field, messages in error.items()}


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's error detail as {field: [messages]} (our input serializers are flat)."""
    def messages(value):
        return [str(item) for item in (value if isinstance(value, list) else [value])]

    if isinstance(detail, dict):
        return {field: messages(value) for field, value in detail.items()}
    return {"non_field_errors": messages(detail)}


def _as_api_exception(exc):
    """Django's exceptions, and the actions', as the API exception that answers them."""
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(field_errors(exc))
    if isinstance(exc, (Http404, DjangoPermissionDenied)):
        # An action refusing someone who got this far (a race with access) says "not found" too.
        return exceptions.NotFound(str(exc) if isinstance(exc, Http404) and exc.args else None)
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):
        return exceptions.ParseError(str(exc))
    return exc


def body(status_code: int, code: str, detail: str, **extra) -> dict:
    return {"status": status_code, "code": code, "detail": detail, **extra}


def exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every exception a view raises, as one JSON shape."""
    from rest_framework.views import set_rollback  # not at the top: DRF's views import our parser, which imports us
    if isinstance(exc, actions.EditConflict):
        from .serializers import MessageSerializer

        set_rollback()
        data = body(409, "edit_conflict", str(exc), current=MessageSerializer(exc.current).data)
        return Response(data, status=409, headers={"ETag": etag(exc.current)})
    exc = _as_api_exception(exc)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's handler500 (below) still answers in JSON
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    extra = {}
    if isinstance(exc, exceptions.ValidationError):
        detail, code, extra["fields"] = "Check the fields.", "invalid", _flatten(exc.detail)
    else:
        detail, code = str(exc.detail), exc.default_code
        if isinstance(exc.detail, exceptions.ErrorDetail):
            code = exc.detail.code or code
    if exc.status_code == 429:
        extra["retry_after"] = max(int(getattr(exc, "wait", None) or 1), 1)
        headers["Retry-After"] = str(extra["retry_after"])
    set_rollback()
    return Response(body(exc.status_code, code, detail, **extra), status=exc.status_code, headers=headers)


def etag(message) -> str:
    return f'"{actions.content_token(message.content)}"'


# --- Outside DRF's views: unknown /api/ URLs, crashes, a lost database ----------------------


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def json_error(status_code: int, code: str, detail: str, *, headers: dict | None = None) -> JsonResponse:
    return JsonResponse(body(status_code, code, detail), status=status_code, headers=headers)


def page_not_found(request, exception=None):
    """handler404: JSON under /api/, the HTML page elsewhere."""
    if is_api(request):
        return json_error(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """handler400 (e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE read outside a view)."""
    if is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return json_error(413, "payload_too_large", PayloadTooLarge.default_detail)
        return json_error(400, "bad_request", "Bad request.")
    return defaults.bad_request(request, exception)


def server_error(request):
    """handler500: a bug is logged by Django; an API client still gets JSON."""
    if is_api(request):
        return json_error(500, "server_error", "Something went wrong on our side.")
    return defaults.server_error(request)
