"""One message: reply to it, edit it, its edit history, and its thread."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from .. import actions, selectors
from ..access import get_message_for
from ..forms import EditForm, ReplyForm
from ..pagination import parse_int
from ..rendering import RowTemplate
from .responses import answer_form, render_page, wants_fragment

CONFLICT = (
    "This message was changed elsewhere while you were editing. "
    "The current text is shown above; save again to replace it."
)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def message_reply(request, message_id):
    parent = get_message_for(request.user, message_id)
    # Set when replying from a thread page: without JavaScript, the reply goes back there.
    thread_id = parse_int(request.POST.get("thread") or request.GET.get("thread")) or None

    def done(reply):
        if not request.htmx:
            if thread_id:
                return redirect(f"{reverse('messaging:thread-detail', args=[thread_id])}#node-{reply.pk}")
            return redirect(reply.get_absolute_url())
        reply.reply_count = 0  # new: shown as it is, no second read (the partner may be gone by now)
        context = {"message": reply, "on_thread_page": thread_id is not None}
        return trigger_client_event(render(request, "messaging/_message.html#reply-sent", context), "message-sent")

    return answer_form(
        request, ReplyForm(request.POST or None, auto_id=f"id_reply{parent.pk}_%s"),
        template="messaging/reply.html", fragment="reply-form",
        write=lambda data: actions.reply_to_message(parent, sender=request.user, content=data["content"]),
        done=done, limit="send", context={"parent": parent, "thread_id": thread_id},
    )


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def message_edit(request, message_id):
    # With what its row shows: after the edit it is drawn from this row, no second read.
    message = get_message_for(request.user, message_id, to_edit=True, for_display=True)
    form = EditForm(
        request.POST or None,
        initial={"content": message.content, "base": actions.content_token(message.content)},
        auto_id=f"id_edit{message.pk}_%s",
    )
    context = {"message": message, "conflict": None}

    def write(data):
        try:
            return actions.edit_message(message, editor=request.user, content=data["content"], base_token=data["base"] or None)
        except actions.EditConflict as error:
            # Ask again from the newer text, keeping what they typed in the box.
            context["conflict"] = error.current
            form.rebase(actions.content_token(error.current.content))
            raise ValidationError(CONFLICT) from None

    def done(edited):
        if not request.htmx:
            return redirect(edited.get_absolute_url())
        return render(request, "messaging/_message.html#message", {"message": edited})

    return answer_form(
        request, form, template="messaging/edit.html", fragment="edit-form",
        write=write, done=done, limit="edit", context=context,
    )


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def message_delete(request, message_id):
    """Delete your own message. GET is the confirmation page (no JavaScript); POST deletes.

    For htmx the message is replaced where it is: by its "Message deleted" placeholder
    while it has replies, by nothing otherwise.
    """
    message = get_message_for(request.user, message_id, to_edit=True)
    if request.method == "GET":
        shown = selectors.message_for_display(message.pk)
        if shown is None or shown.is_deleted:
            raise Http404("No such message.")
        return render(request, "messaging/delete_message.html", {"message": shown})
    actions.delete_message(message, by=request.user)  # deleting twice (a double click) is done once
    if not request.htmx:
        return redirect(reverse("messaging:conversation-detail", args=[message.conversation_id]))
    placeholder = selectors.message_for_display(message.pk)
    if placeholder is None or not placeholder.reply_count:
        # Gone from the page; an empty mark stays in its place for the page's own catch-up to remove.
        return trigger_client_event(HttpResponse(f'<div id="message-{message.pk}" hidden></div>'), "message-sent")
    return trigger_client_event(render(request, "messaging/_message.html#message", {"message": placeholder}), "message-sent")


@login_required
@require_GET
@vary_on_headers("HX-Request")
def message_detail(request, message_id):
    """One message as shown in its conversation (Cancel of an inline edit swaps it back)."""
    message = get_message_for(request.user, message_id)
    if not request.htmx:
        return redirect(message.get_absolute_url())
    shown = selectors.message_for_display(message.pk)
    if shown is None:
        raise Http404("No such message.")
    return render(request, "messaging/_message.html#message", {"message": shown})


@login_required
@require_GET
@vary_on_headers("HX-Request")
def message_history(request, message_id):
    """Earlier versions, newest first, with the words changed between versions marked."""
    message = get_message_for(request.user, message_id)
    before = parse_int(request.GET.get("before")) or None
    history = selectors.history_page(message, before=before)
    context = {"message": message, "history": history, "versions": history.versions}
    return render_page(
        request, "messaging/history.html", context, fragment="history-page" if before else "history-list"
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def thread_detail(request, message_id):
    """A message and all its replies at any depth: one recursive query, assembled in one pass.

    With `since` (an open thread asking whether it changed): 204 unless something in it
    changed after that version.
    """
    root = get_message_for(request.user, message_id)
    # After a reply (`after`): the next piece ("Show more replies"), as a page of its own
    # without JavaScript, or swapped in place with htmx.
    after = parse_int(request.GET.get("after")) or None
    fragment = wants_fragment(request)
    # Only the thread page gives its replies an id (the no-JS reply lands on its #node-<id>)
    # and replies from it that know they are there: a reply can be in several threads opened
    # in place on one page. Its pieces and redraws come by htmx, from the thread page itself.
    on_thread_page = not fragment or _asked_from(request, reverse("messaging:thread-detail", args=[root.pk]))
    since = parse_int(request.GET.get("since"), -1)
    # An open thread redrawing itself says the last reply it shows (static/js/app.js): it
    # keeps what "Show more replies" brought, and gets what is new after it.
    through = parse_int(request.GET.get("through")) or None
    page = selectors.thread_page(root, viewer=request.user, after=after, through=through,
                                 since=since if since >= 0 else None, anchored=on_thread_page)  # fmt: skip
    if since >= 0 and page.version <= since:
        return HttpResponse(status=204)
    context = thread_context(root, page, after=after)
    return render_page(request, "messaging/thread.html", context, fragment="thread-piece" if after else "thread-replies")


def _asked_from(request, path: str) -> bool:
    """An htmx request made by the page at `path` (htmx sends the page's URL with each request)."""
    current = request.htmx.current_url_abs_path if request.htmx else None
    return bool(current) and urlsplit(current).path == path


THREAD_ROW_FIELDS = ("id", "anchor", "name", "name_you", "to", "iso", "hm", "title", "body", "reply", "reply_hx", "history", "close")


def thread_context(root, page, *, after: int | None) -> dict:
    """What thread.html draws a piece of a thread from (the bench renders it the same way):
    each run's replies drawn by the thread-branch partial, once per shape (messaging.rendering)."""
    branch = RowTemplate("messaging/thread.html#thread-branch", var="n", fields=THREAD_ROW_FIELDS,
                         conditions=("to", "history"))  # fmt: skip
    for run in page.runs:
        run.html = branch.render_all(run.nodes)
    return {
        "root": root, "root_row": page.root_row, "runs": page.runs, "next_after": page.next_after,
        "after": after, "thread_version": page.version,
        "thread_url": reverse("messaging:thread-detail", args=[root.pk]),
    }
