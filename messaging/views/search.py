"""Search: the page, the results as you type (htmx), and "More results"."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from .. import selectors
from ..access import get_conversation_for
from ..forms import SearchForm
from ..pagination import parse_int
from .responses import render_page


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def search(request):
    """Messages of yours that match `q`; with `conversation`, only in that one (yours, or 404).

    One URL: the page to a plain request; to htmx the part it swaps: the navbar field
    replaces the page's content, the page's own field its results, "More results" the next page."""
    conversation = None
    if "conversation" in request.GET:
        conversation = get_conversation_for(request.user, parse_int(request.GET.get("conversation")))
    form = SearchForm(request.GET)
    page = None
    if form.is_valid():
        data = form.cleaned_data
        page = selectors.search_messages(request.user, data["q"], conversation=conversation, before=data["before"])
    query = form.data.get("q", "")[:1000]
    params = {"q": query, **({"conversation": conversation.pk} if conversation else {})}
    context = {
        "form": form,
        "page": page,
        "query": query,
        "conversation": conversation,
        "search_query": "" if conversation else query,  # the navbar field shows a search of everything
        "search_url": f"{reverse('messaging:search')}?{urlencode(params)}",
        "more_url": f"{reverse('messaging:search')}?{urlencode({**params, 'before': page.next_before})}"
        if page and page.next_before else None,
    }  # fmt: skip
    if request.GET.get("before"):
        fragment = "result-page"
    elif request.htmx and request.htmx.target == "search-results":
        fragment = "search-results"
    else:
        fragment = "search-main"
    return render_page(request, "messaging/search.html", context, fragment=fragment)
