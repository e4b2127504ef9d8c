"""The unread badge in the navbar, polled by every open tab."""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from .. import presence
from ..unread import BADGE_TOKEN_HEADER, badge_count_for_token, badge_token
from .responses import private


def unread_badge(request):
    """Answered from the cache: with the page's badge token, bound to a live session, it
    touches neither the session row nor the user row (no query on a cache hit)."""
    counts = badge_count_for_token(request) if request.method == "GET" and request.htmx else None
    if counts is None:
        return unread_badge_for_session(request)
    return private(HttpResponse(rendered_badge(counts.messages, counts.notifications)))


@functools.lru_cache(maxsize=1024)
def rendered_badge(count: int, notifications: int) -> str:
    """The badge holds nothing but its counts, so each pair is rendered once per process."""
    context = {"unread_count": count, "unread_notifications": notifications}
    return render_to_string("base.html#badge-poll", context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def unread_badge_for_session(request):
    """No usable token (expired, forged, another session's, or JavaScript off): an ordinary
    signed-in request. It hands out a new token in a header, which app.js gives to the next polls."""
    if not request.htmx:
        return redirect("messaging:inbox")
    presence.heartbeat(request.user.pk)  # the open tab's heartbeat
    response = render(request, "base.html#badge-poll")  # the counts come from context_processors.unread
    response[BADGE_TOKEN_HEADER] = badge_token(request.user.pk, request.session.session_key)
    return private(response)
