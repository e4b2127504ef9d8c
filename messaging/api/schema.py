"""The OpenAPI schema's shared parts, and the docs page (Swagger UI from our static files)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer

from .serializers import ErrorSerializer

ERRORS = {
    400: "Invalid input: `fields` says what is wrong with each field.",
    401: "No valid token or session (a revoked or expired token included).",
    403: "A session request without its CSRF token.",
    404: "Not found, or not yours: the API never says which.",
    409: "The message changed since the If-Match token: `current` is the message now.",
    413: "The body is over DATA_UPLOAD_MAX_MEMORY_SIZE.",
    415: "The body is not JSON.",
    429: "Over a rate limit: wait `retry_after` seconds (also the Retry-After header).",
}
ETAG = OpenApiParameter(
    "ETag", location=OpenApiParameter.HEADER, response=True, type=str,
    description="The message's content token, quoted: send it back in If-Match.",
)  # fmt: skip
IF_MATCH = OpenApiParameter(
    "If-Match", location=OpenApiParameter.HEADER, required=False, type=str,
    description='The ETag (content token) of the text you edited; "*" or none: overwrite whatever is there.',
)  # fmt: skip


def answers(ok: dict, *codes: int) -> dict:
    """The responses of an operation: `ok`, 401 (every operation needs a login) and `codes`."""
    return {**ok, **{code: OpenApiResponse(ErrorSerializer, description=ERRORS[code]) for code in (401, *codes)}}


def body_errors(*codes: int) -> tuple[int, ...]:
    """The errors of an operation that reads a JSON body (a session also needs its CSRF token)."""
    return (400, 403, 413, 415, *codes)


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "messaging.api.auth.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (`dm_…`), made in Settings and shown once.",
        }


class BodyOnDeleteSchema(AutoSchema):
    """drf-spectacular documents no body for DELETE; DELETE /me/ takes the password in one."""

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


class PublicView:
    """Public (they tell only the API's shape); their errors are JSON like every other
    API error, not rendered as YAML or HTML."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def handle_exception(self, exc):
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return super().handle_exception(exc)


class SchemaView(PublicView, SpectacularAPIView):
    """The OpenAPI 3 schema (YAML; ?format=json for JSON)."""


class DocsView(PublicView, SpectacularSwaggerView):
    """Swagger UI, every file from /static/: the sidecar's bundle and our init script
    (static/js/api-docs.js), since the CSP allows no inline script or style."""

    template_name = "api/docs.html"
    url_name = "api:schema"
