"""Starting a conversation (compose), and a conversation's page, message list and poll."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from .. import actions, selectors
from ..access import get_conversation_for
from ..caching import cached_per_session
from ..forms import ComposeForm, MessageForm
from ..pagination import parse_int
from .responses import answer_form, render_page, wants_fragment

UNREAD_CHANGED = "unread-changed"


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def compose(request):
    """A new message to anyone; the conversation with them opens after sending."""
    form = ComposeForm(request.POST or None, initial={"to": request.GET.get("to", "")[:150]})

    def done(message):
        if request.htmx:
            return HttpResponseClientRedirect(message.get_absolute_url())
        return redirect(message.get_absolute_url())

    return answer_form(
        request, form, template="messaging/compose.html", fragment="compose-form" if request.method == "POST" else None,
        write=lambda data: actions.send_message(request.user, to=data["to"], content=data["content"]),
        done=done, limit="send",
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def user_search(request):
    """Active search for the compose "To" field: up to 8 usernames that start with the text."""
    query = request.GET.get("to", "").replace("\x00", "").strip()[:150]
    if not request.htmx:
        return redirect(f"{reverse('messaging:compose')}?{urlencode({'to': query})}")
    users = selectors.usernames_starting(query)
    return render(request, "messaging/compose.html#user-results", {"users": users, "query": query})


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def conversation_detail(request, conversation_id):
    """The conversation page. Opening it marks its messages to you read; POST sends into it."""
    conversation = get_conversation_for(request.user, conversation_id)
    if request.method == "POST":
        return send_in_conversation(request, conversation)
    # ?around=<id>: a link to one message opens the conversation there (search, unread list, notifications).
    page = selectors.conversation_page(request.user, conversation, around=parse_int(request.GET.get("around")) or None)
    # Where "New messages" begins: the first one to this reader not read before this visit.
    first_unread = next((m.pk for m in page.message_rows if m.receiver_id == request.user.pk and not m.read), None)
    if actions.mark_conversation_read(conversation, user=request.user):
        conversation.refresh_from_db(fields=["version"])
        page.version = conversation.version
    context = {**vars(page), "form": MessageForm(), "first_unread_id": first_unread}
    if not wants_fragment(request):
        context["partner"] = selectors.partner_presence(request.user, conversation)  # for the header
    response = render_page(request, "messaging/conversation.html", context, fragment="message-list")
    return trigger_client_event(response, UNREAD_CHANGED) if request.htmx else response


def send_in_conversation(request, conversation):
    partner = conversation.other(request.user)
    first_message = conversation.last_message_at is None

    def done(message):
        if not request.htmx:
            return redirect(message.get_absolute_url())
        message.reply_count = 0  # new: shown as it is, no second read (the partner may be gone by now)
        context = {"message": message, "form": MessageForm(), "conversation": conversation, "first_message": first_message}
        response = render(request, "messaging/conversation.html#sent-message", context)
        return trigger_client_event(response, "message-sent")

    return answer_form(
        request, MessageForm(request.POST), template="messaging/conversation.html", fragment="send-form",
        write=lambda data: actions.send_message(request.user, to=partner, content=data["content"], conversation=conversation),
        done=done, limit="send",
        context=lambda: vars(selectors.conversation_page(request.user, conversation)),
    )


@cached_per_session
@login_required
@require_GET
def conversation_messages(request, conversation_id):
    """The cached message list partial (messaging.caching).

    Its URL carries the conversation version (`v`), and the page asks for the current
    one, so a cached copy is never older than the data it claims. Only 200s are cached:
    a redirect to login or a 404 never is. With `since`, it holds only the rows changed
    between that version and `v`.
    """
    conversation = get_conversation_for(request.user, conversation_id)
    requested = parse_int(request.GET.get("v"), -1)
    version = min(requested, conversation.version) if requested >= 0 else conversation.version
    since = parse_int(request.GET.get("since"), -1)
    if since >= 0:
        context = changes_context(request, conversation, since=since, until=version)
        response = render_page(request, "messaging/conversation.html", context, fragment="message-changes")
    else:
        page = selectors.conversation_page(
            request.user, conversation,
            before=parse_int(request.GET.get("before")) or None, after=parse_int(request.GET.get("after")) or None,
        )  # fmt: skip
        response = render_page(request, "messaging/conversation.html", vars(page), fragment="message-page")
    if requested != conversation.version:
        # Cached only under the URL of the version it shows: a URL without `v`, or
        # with a version not reached yet, would otherwise keep this copy for 60 s
        # and hide the next message.
        add_never_cache_headers(response)
    return response


def changes_context(request, conversation, *, since: int, until: int) -> dict:
    """What changed since the page's version `since`, for the page that shows messages
    `oldest` to `newest` (both sent back by the page)."""
    newest = parse_int(request.GET.get("newest"))
    # The page stops short of the newest messages ("Load newer"): rows after it are not appended.
    gap = request.GET.get("gap") == "1"
    changed = selectors.conversation_changes(
        conversation, since=since, until=until, oldest=parse_int(request.GET.get("oldest"))
    )
    return {
        "conversation": conversation,
        "changed": changed,
        "version": until,
        "newest_shown": newest,
        "newest_id": (newest if gap else max([newest, *(m.pk for m in changed)])) or "",
        "removes_placeholder": not gap and not newest and any(m.pk > newest for m in changed),
        "gap": gap,
    }


@login_required
@require_GET
def conversation_poll(request, conversation_id):
    """What changed since the page's version `v`: 204 when nothing did. Asked when the
    stream says the conversation changed, when a poll ticks, and when the page comes back."""
    conversation = get_conversation_for(request.user, conversation_id)
    since = parse_int(request.GET.get("v"))
    if conversation.version <= since:
        return HttpResponse(status=204)
    if not request.htmx:
        return redirect(conversation)
    # Incoming messages are read as they arrive in the open conversation.
    if actions.mark_conversation_read(conversation, user=request.user):
        conversation.refresh_from_db(fields=["version"])
    context = changes_context(request, conversation, since=since, until=conversation.version)
    response = render(request, "messaging/conversation.html#message-changes", context)
    return trigger_client_event(response, UNREAD_CHANGED)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def conversation_presence(request, conversation_id):
    """The header's "online" / "last seen …" of the other person (nothing where it is hidden),
    redrawn by the stream's `presence` events and the slow poll."""
    conversation = get_conversation_for(request.user, conversation_id)
    if not request.htmx:
        return redirect(conversation)
    partner = selectors.partner_presence(request.user, conversation)
    context = {"conversation": conversation, "partner": partner}
    return render(request, "messaging/conversation.html#partner-presence", context)
