import logging

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django_htmx.http import HttpResponseClientRedirect

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
            # Rendered without the request: its context processors (the unread
            # badge, the lazy request.user) would go to the database again, and
            # that second error would turn this into a 500.
            response = HttpResponse(render_to_string("503.html"), status=503)
            response["Retry-After"] = "5"
            return response
        return None


class HtmxLoginRedirectMiddleware:
    """An htmx request sent to the login page navigates the whole tab there.

    Otherwise htmx would swap the login page into a badge or a message list.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and response.get("Location", "").split("?")[0].endswith("/accounts/login/")
        ):
            return HttpResponseClientRedirect(response["Location"])
        return response
