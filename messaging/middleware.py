import functools
import json
from dataclasses import asdict
import logging
import zoneinfo
from urllib.parse import urlencode, urlsplit

from csp.constants import HEADER as CSP_HEADER
from csp.constants import HEADER_REPORT_ONLY as CSP_HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

logger = logging.getLogger("messaging")


class DatabaseUnavailableMiddleware:
    """Turn a lost database into a friendly 503 instead of a 500 or a hung request.

    The connection timeout is short (settings), and Django opens a new connection
    on the next request, so the app recovers by itself when the database returns.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)) or (
            isinstance(exception, DatabaseError) and "connection" in str(exception).lower()
        ):
            logger.warning("database unavailable: %s", exception)
            from .api.errors import is_api, json_error

            if is_api(request):
                return json_error(503, "unavailable", "We'll be right back: try again soon.", headers={"Retry-After": "5"})
            # Rendered without the request: its context processors (the unread
            # badge, the lazy request.user) would go to the database again, and
            # that second error would turn this into a 500.
            response = HttpResponse(render_to_string("503.html"), status=503)
            response["Retry-After"] = "5"
            return response
        return None


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session has ended is not sent to the login page.

    The tab says "You were signed out" instead, with a link that signs in and comes back
    to the page it is on (never to the fragment URL the request was for), and nothing on
    the page is swapped away: what the person was typing stays (static/js/app.js).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and response.get("Location", "").split("?")[0].endswith(reverse("login"))
        ):
            return signed_out_response(request)
        return response


def signed_out_response(request):
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    page = current.path or "/"
    if current.query:
        page += f"?{current.query}"
    response = HttpResponse(status=200)
    response["HX-Reswap"] = "none"
    response["HX-Trigger"] = json.dumps({"signed-out": {"login": f"{reverse('login')}?{urlencode({'next': page})}"}})
    return response


class ReaderTimeZoneMiddleware:
    """Times are shown in the reader's time zone: the browser's, sent in the `tz` cookie
    (static/js/app.js sets it), when it names a real zone; UTC otherwise."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = reader_zone(request.COOKIES.get("tz"))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        return self.get_response(request)


@functools.lru_cache(maxsize=512)
def reader_zone(name: str | None):
    if not name or len(name) > 64 or name not in zoneinfo.available_timezones():
        return None
    return zoneinfo.ZoneInfo(name)


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware, with the policy of a plain response built once per process.

    django-csp builds both headers for every response (two dataclass conversions and two
    policy builds: a fifth of a cached hit's time). A response that changes nothing about
    the policy (no nonce asked for, no per-view config, update or replace) always gets the
    same headers, so those are kept after the first one; any other response is django-csp's.
    Exemptions and excluded prefixes are checked for every response, as django-csp does.
    """

    OVERRIDES = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")
    _plain: tuple[str, str] | None = None

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in self.OVERRIDES
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response
        if CSPMiddleware._plain is None:
            CSPMiddleware._plain = (
                build_policy(**asdict(self.get_policy_parts(request=request, response=response))),
                build_policy(**asdict(self.get_policy_parts(request=request, response=response, report_only=True)),
                             report_only=True),
            )  # fmt: skip
        for header, value, exempt, setting in (
            (CSP_HEADER, CSPMiddleware._plain[0], "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (CSP_HEADER_REPORT_ONLY, CSPMiddleware._plain[1], "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
            if (value and header not in response and getattr(response, exempt, False) is False
                    and not request.path_info.startswith(tuple(prefixes))):
                response[header] = value
        if getattr(request, "_csp_nonce", None) is None:
            setattr(request, "csp_nonce", CheckableLazyObject(self._csp_nonce_post_response))
        return response
