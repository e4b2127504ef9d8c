"""Signing in and out, signing up, settings and deleting the account."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from .. import actions
from ..forms import DeleteAccountForm, LoginForm, PasswordChangeForm, SignupForm
from ..ratelimit import LIMIT_MESSAGES, rate_limited
from .responses import answer_form


@require_GET
def healthz(request):
    """For load balancers: touches neither the database nor the cache."""
    return HttpResponse("ok", content_type="text/plain")


class LoginView(auth_views.LoginView):
    """Django's login; attempts count against the address and the account (messaging.ratelimit)."""

    form_class = LoginForm

    def post(self, request, *args, **kwargs):
        return refusable_post(self, request, "login")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change; the old-password check is limited per user.

    Changing the password ends every other session of the account (signals.user_pre_save).
    """

    form_class = PasswordChangeForm

    def post(self, request, *args, **kwargs):
        return refusable_post(self, request, "password")


def refusable_post(view, request, limit: str):
    """POST of one of Django's auth form views, refused with 429 over the `limit`
    before any password is checked (the typed username stays in the form)."""
    form = view.get_form()
    retry_after = rate_limited(request, limit)
    if retry_after is not None:
        form.refusal = LIMIT_MESSAGES[limit]
    if form.is_valid():
        return view.form_valid(form)
    response = view.form_invalid(form)
    if retry_after is not None:
        response.status_code = 429
        response["Retry-After"] = str(retry_after)
    return response


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("messaging:inbox")
    form = SignupForm(request.POST or None)

    def done(user):
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        flash.success(request, f"Welcome, {user.username}! Write your first message below.")
        return redirect("messaging:compose")

    return answer_form(
        request, form, template="registration/signup.html", fragment=None,
        write=lambda data: form.save(), done=done, limit="signup",
    )


@login_required
@require_GET
def account_settings(request):
    """Settings, with the danger zone (its form posts to delete_user)."""
    return render(request, "messaging/settings.html", {"form": DeleteAccountForm(user=request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def delete_user(request):
    """Delete the signed-in account, confirmed by the password: a real page without JavaScript."""
    user = request.user

    def delete(data):
        logout(request)
        actions.delete_account(user)

    def done(_):
        if request.htmx:
            return HttpResponseClientRedirect(reverse("messaging:goodbye"))
        return redirect("messaging:goodbye")

    return answer_form(
        request,
        DeleteAccountForm(request.POST or None, user=user),
        template="messaging/delete_account.html",
        fragment="delete-account",
        write=delete,
        done=done,
        limit="password",
    )


def goodbye(request):
    return render(request, "messaging/goodbye.html")
