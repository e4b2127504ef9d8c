"""The inbox: unread messages and conversations, each list with "Load more"."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from .. import selectors
from .responses import render_page


@login_required
@require_GET
@vary_on_headers("HX-Request")
def inbox(request):
    """Both lists; "Load more" (a link without JavaScript) asks for the next page of one of them."""
    unread_after = request.GET.get("unread_after")
    conversations_after = request.GET.get("conversations_after")
    page = selectors.inbox_page(request.user, unread_cursor=unread_after, conversations_cursor=conversations_after)
    if unread_after is not None:
        fragment = "unread-page"
    elif conversations_after is not None:
        fragment = "conversation-page"
    else:
        fragment = "inbox-lists"  # the live refresh
    return render_page(request, "messaging/inbox.html", vars(page), fragment=fragment)
