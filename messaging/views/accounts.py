"""Signing in and out, signing up, settings and deleting the account."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from .. import actions, selectors
from ..access import get_api_token_for
from ..forms import ApiTokenForm, DeleteAccountForm, LoginForm, PasswordChangeForm, ProfileForm, RevokeApiTokenForm, SignupForm
from ..models import Profile
from ..ratelimit import LIMIT_MESSAGES, rate_limited
from .responses import answer_form, private, render_page


@require_GET
def healthz(request):
    """For load balancers: touches neither the database nor the cache."""
    return HttpResponse("ok", content_type="text/plain")


class LoginView(auth_views.LoginView):
    """Django's login; attempts count against the address and the account (messaging.ratelimit)."""

    form_class = LoginForm

    def post(self, request, *args, **kwargs):
        return refusable_post(self, request, "login")

    def form_valid(self, form):
        response = super().form_valid(form)
        # signals.user_logged_in gave an empty profile the browser's zone; a profile's zone wins.
        profile = Profile.objects.filter(user_id=form.get_user().pk).only("time_zone").first()
        return with_time_zone_cookie(response, profile.time_zone if profile else "")


def with_time_zone_cookie(response, zone: str):
    """The `tz` cookie (middleware.ReaderTimeZoneMiddleware reads it) says the profile's zone:
    the pages after this one show times in it. app.js keeps it so (base.html's data-profile-tz)."""
    if zone:
        response.set_cookie("tz", zone, max_age=365 * 24 * 3600, samesite="Lax")
    return response


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
        login(request, user, backend="messaging.backends.ModelBackend")
        flash.success(request, f"Welcome, {user.username}! Write your first message below.")
        return redirect("messaging:compose")

    return answer_form(
        request, form, template="registration/signup.html", fragment=None,
        write=lambda data: form.save(), done=done, limit="signup",
    )


@login_required
@require_GET
def account_settings(request):
    """Settings: API tokens (their forms post to api_tokens and api_token_revoke) and the
    danger zone (its form posts to delete_user)."""
    context = {
        "form": DeleteAccountForm(user=request.user), "token_form": ApiTokenForm(), "tokens": selectors.api_tokens(request.user),
        "profile_form": profile_form_for(request.user),
    }  # fmt: skip
    return render(request, "messaging/settings.html", context)


def profile_form_for(user, data=None) -> ProfileForm:
    profile = actions.create_profile(user) if not hasattr(user, "profile") else user.profile
    initial = {f: getattr(profile, f) for f in ("display_name", "time_zone", "show_online", "notify_online")}
    return ProfileForm(data, initial=initial)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def profile_settings(request):
    """Settings → Profile: display name, time zone, what others see of your presence (also
    its own page, where a plain POST with errors comes back). A plain POST redirects to
    Settings; htmx gets the section back, saying it was saved."""

    def done(profile):
        if not request.htmx:
            flash.success(request, "Your profile was saved.")
            response = redirect(f"{reverse('messaging:settings')}#profile-settings")
        else:
            request.user.profile = profile
            response = render(request, "messaging/profile_settings.html#profile-settings", {"form": profile_form_for(request.user), "saved": True})
        return with_time_zone_cookie(response, profile.time_zone)

    return answer_form(
        request, profile_form_for(request.user, request.POST), template="messaging/profile_settings.html",
        fragment="profile-settings", done=done,
        write=lambda data: actions.update_profile(request.user, **data),
    )


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def api_tokens(request):
    """Personal access tokens for the JSON API. POST makes one and shows it, once."""

    def done(created):
        _, secret = created
        # Answered here rather than redirected: only the token's digest is stored, so after a
        # redirect the token could only be shown by parking it in the session or a cookie.
        context = {"tokens": selectors.api_tokens(request.user), "form": ApiTokenForm(), "new_token": secret}
        return private(render_page(request, "messaging/api_tokens.html", context, fragment="api-tokens"))

    return answer_form(
        request, ApiTokenForm(request.POST or None), template="messaging/api_tokens.html", fragment="api-tokens",
        write=lambda data: actions.create_api_token(request.user, days=data["expires_in"]),
        done=done, context=lambda: {"tokens": selectors.api_tokens(request.user)},
    )


@login_required
@require_POST
@vary_on_headers("HX-Request")
def api_token_revoke(request):
    """Revoke one of your tokens (named in the form by the key it starts with): the next
    request made with it gets a 401. Someone else's token is a 404, like anything not yours."""

    def done(_):
        if not request.htmx:
            return redirect("messaging:api-tokens")
        context = {"tokens": selectors.api_tokens(request.user), "form": ApiTokenForm()}
        return render(request, "messaging/api_tokens.html#api-tokens", context)

    return answer_form(
        request, RevokeApiTokenForm(request.POST), template="messaging/api_tokens.html", fragment="api-tokens",
        write=lambda data: actions.revoke_api_token(get_api_token_for(request.user, data["token"])),
        done=done, context=lambda: {"tokens": selectors.api_tokens(request.user), "form": ApiTokenForm()},
    )


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
