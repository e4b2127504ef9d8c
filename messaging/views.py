"""Thin views: one URL gives a full page to a plain request and a fragment to an htmx one."""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorDict
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import cache_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_cookie, vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from . import actions
from .access import get_conversation_for, get_message_for, get_thread_for
from .diffing import history_versions
from .forms import ComposeForm, DeleteAccountForm, EditForm, MessageForm, ReplyForm, SignupForm
from .models import Conversation, Message, Notification
from .pagination import PAGE_SIZE, keyset_page, parse_int
from .ratelimit import rate_limited
from .threads import Node, build_tree, walk
from .unread import BADGE_TOKEN_HEADER, badge_token, badge_token_user_id, unread_badge_count

User = get_user_model()

UNREAD_CHANGED = "unread-changed"


def partial(request, template: str, name: str) -> str:
    """The template for this request: the named partial for htmx, the page otherwise.

    A history-restore request (back button after an htmx swap) wants the whole page.
    """
    if request.htmx and not request.htmx.history_restore_request:
        return f"{template}#{name}"
    return template


def form_errors_to(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- Health and accounts ---------------------------------------------------------------


@require_GET
def healthz(request):
    """For load balancers: touches neither the database nor the cache."""
    return HttpResponse("ok", content_type="text/plain")


class RateLimitedLoginView(LoginView):
    """Django's login, with attempts limited per IP and username through the cache."""

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:150].lower()
        key = f"{request.META.get('REMOTE_ADDR', 'unknown')}:{username}"
        if rate_limited(request, "login", key=key):
            form = self.get_form()
            form.cleaned_data, form._errors = {}, ErrorDict()  # keep the typed username, skip the check
            form.add_error(None, "Too many login attempts. Wait a minute and try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("messaging:inbox")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        flash.success(request, f"Welcome, {user.username}! Write your first message below.")
        return redirect("messaging:compose")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request):
    """Settings with the danger zone: deleting the account needs the password."""
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        user = request.user
        logout(request)
        actions.delete_account(user)
        if request.htmx:
            return HttpResponseClientRedirect(reverse("messaging:goodbye"))
        return redirect("messaging:goodbye")
    template = partial(request, "messaging/settings.html", "delete-account") if request.method == "POST" else "messaging/settings.html"
    return render(request, template, {"form": form}, status=422 if form.errors else 200)


delete_user = account_settings


def goodbye(request):
    return render(request, "messaging/goodbye.html")


# --- Inbox -------------------------------------------------------------------------------


def inbox_context(user, *, unread_cursor=None, conversations_cursor=None):
    unread = keyset_page(Message.unread.for_user(user), field="timestamp", cursor=unread_cursor, size=20)
    conversations = keyset_page(
        Conversation.objects.for_user(user).filter(last_message_at__isnull=False).with_inbox_columns(user),
        field="last_message_at",
        cursor=conversations_cursor,
        size=PAGE_SIZE,
    )
    last_ids = [c.last_message_id for c in conversations.items if c.last_message_id]
    last_messages = Message.objects.only("id", "content", "sender_id", "timestamp").in_bulk(last_ids)
    for conversation in conversations.items:
        conversation.last_message = last_messages.get(conversation.last_message_id)
        conversation.partner = conversation.other(user)
    return {"unread": unread, "conversations": conversations}


@login_required
@require_GET
@vary_on_headers("HX-Request")
def inbox(request):
    """The unread messages and the conversations, each with "Load more" (a link without JS)."""
    context = inbox_context(
        request.user,
        unread_cursor=request.GET.get("unread_after"),
        conversations_cursor=request.GET.get("conversations_after"),
    )
    template = "messaging/inbox.html"
    if request.htmx and not request.htmx.history_restore_request:
        if "unread_after" in request.GET:
            template += "#unread-page"
        elif "conversations_after" in request.GET:
            template += "#conversation-page"
    return render(request, template, context)


def unread_badge(request):
    """The navbar badge, polled by every open tab: answered from the cache, and with the
    page's badge token without touching the session or the user (no query on a cache hit)."""
    token_ok = request.method == "GET" and request.htmx
    user_id = badge_token_user_id(request.headers.get(BADGE_TOKEN_HEADER)) if token_ok else None
    if user_id is None:
        return unread_badge_for_session(request)
    return private_response(HttpResponse(rendered_badge(unread_badge_count(user_id))))


@functools.lru_cache(maxsize=512)
def rendered_badge(count: int) -> str:
    """The badge holds nothing but its count, so each count is rendered once per process."""
    context = {"unread_count": count, "UNREAD_BADGE_POLL_SECONDS": settings.UNREAD_BADGE_POLL_SECONDS}
    return render_to_string("base.html#unread-badge", context)


def private_response(response):
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
@vary_on_headers("HX-Request")
def unread_badge_for_session(request):
    """No valid token (expired, forged, or JavaScript off): an ordinary signed-in request.
    It hands out a new token in a header, which app.js gives to the next polls."""
    if not request.htmx:
        return redirect("messaging:inbox")
    response = render(request, "base.html#unread-badge")  # the count comes from context_processors.unread
    response[BADGE_TOKEN_HEADER] = badge_token(request.user.pk)
    return private_response(response)


# --- Compose -------------------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request")
def user_search(request):
    """Active search for the compose "To" field: up to 8 usernames that start with the text."""
    # NUL can't be in a username, and PostgreSQL refuses it in a query (a 500).
    query = request.GET.get("to", "").replace("\x00", "").strip()[:150]
    users = []
    if query:
        users = list(
            User.objects.filter(username__istartswith=query, is_active=True).order_by("username").values_list(
                "username", flat=True
            )[:8]
        )
    if not request.htmx:
        return redirect(f"{reverse('messaging:compose')}?{urlencode({'to': query})}")
    return render(request, "messaging/compose.html#user-results", {"users": users, "query": query})


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def compose(request):
    """A new message to anyone; the conversation with them opens after sending."""
    form = ComposeForm(request.POST or None, initial={"to": request.GET.get("to", "")[:150]})
    if request.method == "POST":
        if rate_limited(request, "send"):
            form.add_error(None, "You are sending messages too fast. Wait a minute and try again.")
        elif form.is_valid():
            try:
                message = actions.send_message(
                    request.user, to=form.cleaned_data["to"], content=form.cleaned_data["content"]
                )
            except ValidationError as error:
                form_errors_to(form, error)
            else:
                if request.htmx:
                    return HttpResponseClientRedirect(message.get_absolute_url())
                return redirect(message.get_absolute_url())
    status = 422 if form.errors else 200
    return render(request, partial(request, "messaging/compose.html", "compose-form") if request.method == "POST" else "messaging/compose.html", {"form": form}, status=status)


# --- Conversation ------------------------------------------------------------------------


def conversation_messages_context(user, conversation, *, before: int | None = None):
    """The latest page of a conversation (or the page before message `before`), oldest first."""
    rows = Message.objects.in_conversation(conversation).for_display().order_by("-pk")
    if before:
        rows = rows.filter(pk__lt=before)
    page = list(rows[: PAGE_SIZE + 1])
    has_older = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE][::-1]
    return {
        "conversation": conversation,
        "partner": conversation.other(user),
        "message_rows": page,
        "has_older": has_older,
        "oldest_id": page[0].pk if page else None,
        "version": conversation.version,
    }


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def conversation_detail(request, conversation_id):
    """The conversation page. Opening it marks its messages to you read; POST sends into it."""
    conversation = get_conversation_for(request.user, conversation_id)
    partner = conversation.other(request.user)
    form = MessageForm(request.POST or None)
    if request.method == "POST":
        if rate_limited(request, "send"):
            form.add_error("content", "You are sending messages too fast. Wait a minute and try again.")
        elif form.is_valid():
            try:
                message = actions.send_message(request.user, to=partner, content=form.cleaned_data["content"])
            except ValidationError as error:
                form_errors_to(form, error)
            else:
                if not request.htmx:
                    return redirect(message.get_absolute_url())
                message = Message.objects.for_display().get(pk=message.pk)
                response = render(
                    request,
                    "messaging/conversation.html#sent-message",
                    {"message": message, "form": MessageForm(), "conversation": conversation, "user": request.user},
                )
                return trigger_client_event(response, "message-sent")
        if not request.htmx:
            context = conversation_messages_context(request.user, conversation)
            return render(request, "messaging/conversation.html", {**context, "form": form}, status=422)
        response = render(
            request, "messaging/conversation.html#send-form", {"form": form, "conversation": conversation}, status=422
        )
        return reswap(retarget(response, "#send-form"), "outerHTML")

    if actions.mark_conversation_read(conversation, user=request.user):
        conversation.refresh_from_db(fields=["version"])
    context = conversation_messages_context(request.user, conversation)
    context["form"] = form
    response = render(request, partial(request, "messaging/conversation.html", "message-list"), context)
    return trigger_client_event(response, UNREAD_CHANGED) if request.htmx else response


@cache_page(settings.CACHE_MIDDLEWARE_SECONDS)
@vary_on_cookie
@vary_on_headers("HX-Request")
@login_required
@require_GET
def conversation_messages(request, conversation_id):
    """The cached message list partial.

    Its URL carries the conversation version (`v`), and the page asks for the
    current one, so a cached copy is never older than the data it claims; the
    key varies on the cookie (per user: only the browser that got the page can
    hit it, so a hit needs no session or user lookup, and runs no query) and on
    HX-Request. Only 200s are cached: a redirect to login or a 404 never is.
    With `since`, it holds only the rows changed between that version and `v`
    (the live poll).
    """
    conversation = get_conversation_for(request.user, conversation_id)
    requested = parse_int(request.GET.get("v"), -1)
    version = min(requested, conversation.version) if requested >= 0 else conversation.version
    since = parse_int(request.GET.get("since"), -1)
    if since >= 0:
        changed = list(
            Message.objects.in_conversation(conversation).changed_between(since, version).for_display().order_by("pk")
        )
        context = {"conversation": conversation, "changed": changed, "since": since, "version": version}
        response = render(request, partial(request, "messaging/conversation.html", "message-changes"), context)
    else:
        before = parse_int(request.GET.get("before")) or None
        context = conversation_messages_context(request.user, conversation, before=before)
        response = render(request, partial(request, "messaging/conversation.html", "message-page"), context)
    if requested != conversation.version:
        # Cached only under the URL of the version it shows: a URL without `v`, or
        # with a version not reached yet, would otherwise keep this copy for 60 s
        # and hide the next message.
        add_never_cache_headers(response)
    return response


@login_required
@require_GET
def conversation_poll(request, conversation_id):
    """Cheap check while the tab is visible: 204 when nothing changed since version `v`."""
    conversation = get_conversation_for(request.user, conversation_id)
    since = parse_int(request.GET.get("v"))
    if conversation.version == since:
        return HttpResponse(status=204)
    if not request.htmx:
        return redirect(conversation)
    # Incoming messages are read as they arrive in the open conversation.
    if actions.mark_conversation_read(conversation, user=request.user):
        conversation.refresh_from_db(fields=["version"])
    response = render(
        request,
        "messaging/conversation.html#conversation-sync",
        {"conversation": conversation, "since": since, "version": conversation.version, "fetch": True},
    )
    return trigger_client_event(response, UNREAD_CHANGED)


# --- Messages: reply, edit, history, thread ----------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def message_reply(request, message_id):
    parent = get_message_for(request.user, message_id)
    # Set when replying from a thread page: without JavaScript, the reply goes back there.
    thread_id = parse_int(request.POST.get("thread") or request.GET.get("thread")) or None
    form = ReplyForm(request.POST or None, auto_id=f"id_reply{parent.pk}_%s")
    if request.method == "POST":
        if rate_limited(request, "send"):
            form.add_error("content", "You are sending messages too fast. Wait a minute and try again.")
        elif form.is_valid():
            try:
                reply = actions.reply_to_message(parent, sender=request.user, content=form.cleaned_data["content"])
            except ValidationError as error:
                form_errors_to(form, error)
            else:
                if not request.htmx:
                    if thread_id:
                        return redirect(f"{reverse('messaging:thread-detail', args=[thread_id])}#node-{reply.pk}")
                    return redirect(reply.get_absolute_url())
                reply = Message.objects.for_display().get(pk=reply.pk)
                reply.parent_sender = parent.sender
                parent.reply_count = parent.replies.count()
                context = {"message": reply, "parent": parent, "new_node": Node(reply, depth=1)}
                return render(request, "messaging/_message.html#reply-sent", context)
    status = 422 if form.errors else 200
    context = {"parent": parent, "form": form, "thread_id": thread_id}
    return render(request, partial(request, "messaging/reply.html", "reply-form"), context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def message_edit(request, message_id):
    message = get_message_for(request.user, message_id, to_edit=True)
    auto_id = f"id_edit{message.pk}_%s"
    form = EditForm(
        request.POST or None,
        initial={"content": message.content, "base": actions.content_token(message.content)},
        auto_id=auto_id,
    )
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            message = actions.edit_message(
                message,
                editor=request.user,
                content=form.cleaned_data["content"],
                base_token=form.cleaned_data["base"] or None,
            )
        except actions.EditConflict as error:
            conflict = error.current
            # Ask again from the newer text, keeping what they typed in the box.
            form = EditForm(
                {"content": request.POST.get("content", ""), "base": actions.content_token(conflict.content)},
                auto_id=auto_id,
            )
            form.is_valid()
            form.add_error(None, "This message was changed elsewhere while you were editing. "
                                 "The current text is shown above; save again to replace it.")
        except ValidationError as error:
            form_errors_to(form, error)
        else:
            if not request.htmx:
                return redirect(message.get_absolute_url())
            message = Message.objects.for_display().get(pk=message.pk)
            return render(request, "messaging/_message.html#message", {"message": message, "user": request.user})
    status = 422 if form.errors else 200
    return render(
        request,
        partial(request, "messaging/edit.html", "edit-form"),
        {"message": message, "form": form, "conflict": conflict},
        status=status,
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def message_detail(request, message_id):
    """One message as shown in its conversation (Cancel of an inline edit swaps it back)."""
    message = get_message_for(request.user, message_id)
    if not request.htmx:
        return redirect(message.get_absolute_url())
    message = Message.objects.for_display().get(pk=message.pk)
    return render(request, "messaging/_message.html#message", {"message": message, "user": request.user})


@login_required
@require_GET
@vary_on_headers("HX-Request")
def message_history(request, message_id):
    """Earlier versions, newest first, with the words changed between versions marked."""
    message = get_message_for(request.user, message_id)
    versions = history_versions(message)
    return render(
        request,
        partial(request, "messaging/history.html", "history-list"),
        {"message": message, "versions": versions},
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def thread_detail(request, message_id):
    """A message and all its replies at any depth: one recursive query, assembled in one pass."""
    root = get_thread_for(request.user, message_id)
    nodes = list(walk(build_tree(root, Message.objects.thread_of(root))))
    return render(
        request,
        partial(request, "messaging/thread.html", "thread-replies"),
        {"root": root, "root_node": Node(root, 0), "nodes": nodes},
    )


# --- Notifications --------------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request")
def notification_list(request):
    page = keyset_page(
        Notification.objects.filter(user=request.user).select_related("message__sender"),
        field="created_at",
        cursor=request.GET.get("after"),
    )
    template = "messaging/notifications.html"
    if request.htmx and not request.htmx.history_restore_request and "after" in request.GET:
        template += "#notification-page"
    return render(request, template, {"page": page})


@login_required
@require_POST
def notification_read(request, notification_id):
    notification = get_object_or_404(
        Notification.objects.filter(user=request.user).select_related("message__sender"), pk=notification_id
    )
    actions.mark_notifications_read(request.user, ids=[notification.pk])
    if not request.htmx:
        return redirect("messaging:notifications")
    notification.read = True
    response = render(request, "messaging/notifications.html#notification", {"notification": notification})
    return trigger_client_event(response, UNREAD_CHANGED)


@login_required
@require_POST
def notification_read_all(request):
    actions.mark_notifications_read(request.user)
    if not request.htmx:
        return redirect("messaging:notifications")
    page = keyset_page(
        Notification.objects.filter(user=request.user).select_related("message__sender"), field="created_at", cursor=None
    )
    response = render(request, "messaging/notifications.html#notification-list", {"page": page})
    return trigger_client_event(response, UNREAD_CHANGED)
