"""JSON request bodies, bounded like every other body of the site."""

from __future__ import annotations

import codecs

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

from .errors import PayloadTooLarge


def declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


def check_body_size(request) -> None:
    """A body declared bigger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused before it is read."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and declared_length(request) > limit:
        raise PayloadTooLarge()


class JSONParser(parsers.JSONParser):
    """DRF reads the body as a stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check:
    this one reads at most that much (413 beyond), and answers any undecodable body,
    however deeply nested, with a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(codecs.decode(raw, encoding))
        except (ValueError, RecursionError, LookupError) as exc:
            raise ParseError(f"JSON parse error: {exc}"[:200]) from None
