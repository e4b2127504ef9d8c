from django.contrib import admin
from django.shortcuts import render

from .ratelimit import LIMIT_MESSAGES, rate_limited


class AdminSite(admin.AdminSite):
    """The admin, whose login counts against the same limits as the site's own."""

    def login(self, request, extra_context=None):
        if request.method == "POST":
            retry_after = rate_limited(request, "login")
            if retry_after is not None:
                response = render(request, "429.html", {"reason": LIMIT_MESSAGES["login"]}, status=429)
                response["Retry-After"] = str(retry_after)
                return response
        return super().login(request, extra_context)
