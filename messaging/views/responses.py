"""How a view answers: the page or one of its fragments, and a submitted form.

One URL gives a full page to a plain request and a fragment to an htmx one; the
choice is made here and nowhere else. Every form is answered by `answer_form`.
"""

from __future__ import annotations

from typing import Any, Callable

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render

from ..ratelimit import LIMIT_MESSAGES, rate_limited

Context = dict[str, Any] | Callable[[], dict[str, Any]]


def wants_fragment(request) -> bool:
    """An htmx request swaps a fragment in; a history restore (Back after a swap) wants the page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def render_page(request, template: str, context: Context = None, *, fragment: str | None = None, status: int = 200):
    """The page, or its partial `fragment` for an htmx request."""
    if fragment and wants_fragment(request):
        template = f"{template}#{fragment}"
    return render(request, template, _evaluate(context), status=status)


def answer_form(
    request,
    form,
    *,
    template: str,
    fragment: str | None,
    write: Callable[[dict], Any],
    done: Callable[[Any], HttpResponse],
    context: Context = None,
    limit: str | None = None,
):
    """Show `form`, or handle it when posted, the same way for every form of the app.

    POST: over the `limit` (ratelimit scope) it is refused with 429; otherwise it is
    validated and `write(cleaned_data)` runs (an action). A ValidationError from either
    lands on the form. Success: `done(result)` answers (a redirect for a plain POST, a
    fragment for htmx). Failure: the form again with what was typed, 422 (429 when
    limited), as the whole page or, for htmx, as its fragment.
    """
    retry_after = None
    status = 200
    if request.method == "POST":
        retry_after = rate_limited(request, limit) if limit else None
        if retry_after is not None:
            form.refusal = LIMIT_MESSAGES[limit]  # nothing is checked: forms.RefusableMixin
        if form.is_valid():
            try:
                result = write(form.cleaned_data)
            except ValidationError as error:
                add_errors(form, error)
            else:
                return done(result)
        status = 429 if retry_after is not None else 422
    response = render_page(request, template, {**_evaluate(context), "form": form}, fragment=fragment, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def add_errors(form, error: ValidationError) -> None:
    """Put an action's ValidationError on the form: on its field when the form has one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def private(response):
    """Nobody but this browser may keep this response, and not after it leaves the page."""
    response["Cache-Control"] = "private, no-store"
    response.headers.pop("Expires", None)
    return response


def _evaluate(context: Context) -> dict:
    if context is None:
        return {}
    return context() if callable(context) else context
