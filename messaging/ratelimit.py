"""Rate limits, counted in the cache by django-ratelimit (fixed windows, one counter per key).

Each limit keys on what the check itself uses, so it cannot be sidestepped:
- a login attempt counts against the address *and* the account, the username
  normalised exactly as authentication normalises it (NFKC, surrounding space
  stripped) and case-folded, so "alice", " Alice\t" and "ａｌｉｃｅ" share one counter;
  it also counts against the address alone, so one address cannot spray passwords
  over many accounts. Both counters hold the attacker's address: nobody can lock
  another person out from elsewhere;
- sends, edits, password changes and account deletion count per signed-in user;
- sign-ups per address.
If the cache is down nobody is limited (RATELIMIT_FAIL_OPEN): an outage must not lock
everyone out, and the cache backend logs it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import UsernameField
from django_ratelimit.core import _get_ip, get_usage

LIMIT_MESSAGES = {
    "login": "Too many login attempts. Wait a minute and try again.",
    "signup": "Too many accounts were created from your network. Try again later.",
    "send": "You are sending messages too fast. Wait a minute and try again.",
    "edit": "You are editing too fast. Wait a minute and try again.",
    "password": "Too many password attempts. Wait a minute and try again.",
}


def normalised_username(raw) -> str:
    """The username as ModelBackend looks it up (UsernameField: NFKC, stripped), case-folded."""
    text = raw if isinstance(raw, str) else ""
    return UsernameField().to_python(text[:1000]).casefold()


def _address(group, request) -> str:
    return _get_ip(request)


def _address_and_account(group, request) -> str:
    return f"{_get_ip(request)}\n{normalised_username(request.POST.get('username'))}"


def _user(group, request) -> str:
    return str(request.user.pk) if request.user.is_authenticated else f"ip:{_get_ip(request)}"


# scope -> the counters a request of that scope adds to: (rate name in settings.RATE_LIMITS, key)
SCOPES = {
    "login": (("login", _address_and_account), ("login-address", _address)),
    "signup": (("signup", _address),),
    "send": (("send", _user),),
    "edit": (("edit", _user),),
    "password": (("password", _user),),
}


def rate_limited(request, scope: str) -> int | None:
    """Count this request against `scope`; the seconds to wait when it is over a limit, else None."""
    wait = None
    for name, key in SCOPES[scope]:
        usage = get_usage(request, group=f"dm.{name}", key=key, rate=settings.RATE_LIMITS[name], increment=True)
        if usage is not None and usage["should_limit"]:
            wait = max(wait or 1, usage["time_left"], 1)
    return wait
