"""The notification list, and marking notifications read."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from .. import actions, selectors
from ..access import get_notification_for
from .responses import render_page

UNREAD_CHANGED = "unread-changed"


@login_required
@require_GET
@vary_on_headers("HX-Request")
def notification_list(request):
    after = request.GET.get("after")
    kind = notification_kind(request)
    page = selectors.notifications_page(request.user, cursor=after, kind=kind)
    return render_page(
        request, "messaging/notifications.html", {"page": page, "kind": kind, "kinds": selectors.NOTIFICATION_KINDS.items()},
        fragment="notification-page" if after is not None else "notification-list",  # the live refresh
    )


def notification_kind(request) -> str:
    """The kind the list is filtered by (`?kind=`), or "" for all (an unknown kind is all)."""
    kind = request.GET.get("kind", "")
    return kind if kind in selectors.NOTIFICATION_KINDS else ""


@login_required
@require_POST
def notification_read(request, notification_id):
    notification = get_notification_for(request.user, notification_id)
    actions.mark_notifications_read(request.user, ids=[notification.pk])
    if not request.htmx:
        return redirect("messaging:notifications")
    notification.read = True
    response = render(request, "messaging/notifications.html#notification", {"notification": notification})
    return trigger_client_event(response, UNREAD_CHANGED)


@login_required
@require_POST
def notification_read_all(request):
    """Mark all read: all of the kind the page shows (`?kind=`), or all."""
    kind = notification_kind(request)
    actions.mark_notifications_read(request.user, kind=kind or None)
    if not request.htmx:
        return redirect(reverse("messaging:notifications") + (f"?{urlencode({'kind': kind})}" if kind else ""))
    page = selectors.notifications_page(request.user, kind=kind)
    response = render(request, "messaging/notifications.html#notification-list", {"page": page, "kind": kind})
    return trigger_client_event(response, UNREAD_CHANGED)
