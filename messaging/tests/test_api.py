"""The JSON API, endpoint by endpoint: the same product and the same rules as the HTML.

Who may call what is test_api_access.py; query counts are test_api_queries.py; the
schema against every response is test_api_schemathesis.py; tokens in Settings are
test_api_tokens.py.
"""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from messaging import actions, selectors
from messaging.api import errors
from messaging.models import Message, MessageHistory, Notification

from .conftest import JsonClient, api_client
from .security_helpers import PASSWORD

pytestmark = pytest.mark.django_db

SEND = "/api/v1/messages/"


def detail_url(message) -> str:
    return reverse("api:message-detail", args=[message.pk])


def messages_url(conversation, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("api:conversation-messages", args=[conversation.pk]) + (f"?{query}" if query else "")


def error_of(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert data["status"] == status
    return data


# --- Sending and replying ---------------------------------------------------------------------------


def test_send_to_a_username(alice, bob, alice_api):
    response = alice_api.post(SEND, {"to": "BOB", "content": "  Hello from a script  "})
    assert response.status_code == 201
    data = response.json()
    message = Message.objects.get(pk=data["id"])
    assert (message.sender, message.receiver, message.content) == (alice, bob, "Hello from a script")
    assert data["content"] == "Hello from a script" and data["receiver"] == "bob" and data["parent"] is None
    assert response["Location"] == detail_url(message)
    assert response["ETag"] == f'"{actions.content_token(message.content)}"' == f'"{data["content_token"]}"'
    # Through the action: the notification and the conversation's version came with it.
    assert Notification.objects.filter(user=bob, message=message).exists()
    assert message.conversation.version > 0


def test_reply_to_a_message(alice, bob, bob_api, message):
    response = bob_api.post(SEND, {"reply_to": message.pk, "content": "Hi Alice"})
    assert response.status_code == 201
    reply = Message.objects.get(pk=response.json()["id"])
    assert (reply.parent_message, reply.sender, reply.receiver) == (message, bob, alice)
    assert response.json()["receiver"] == "alice"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"content": "to nobody"}, ["non_field_errors"]),
        ({"to": "bob", "reply_to": 1, "content": "both"}, ["non_field_errors"]),
        ({"to": "nobody", "content": "hi"}, ["to"]),
        ({"to": "bob", "content": "   "}, ["content"]),
        ({"to": "bob", "content": "x" * 5001}, ["content"]),
        ({"to": "bob", "content": "nul \x00 byte"}, ["content"]),
        ({"to": "bob"}, ["content"]),
        ({"to": ["bob"], "content": "hi"}, ["to"]),
        ({"to": "bob", "content": {"text": "hi"}}, ["content"]),
        ({"reply_to": "one", "content": "hi"}, ["reply_to"]),
        ({"reply_to": 2**64, "content": "hi"}, ["reply_to"]),
        (["not", "an", "object"], ["non_field_errors"]),
    ],
)
def test_send_refuses_bad_input_with_field_errors(alice, bob, alice_api, body, fields):
    before = Message.objects.count()
    data = error_of(alice_api.post(SEND, body), 400)
    assert data["code"] == "invalid" and sorted(data["fields"]) == fields
    assert Message.objects.count() == before


def test_send_uses_the_forms_words(alice, bob, alice_api):
    data = error_of(alice_api.post(SEND, {"to": "bob", "content": "x" * 5001}), 400)
    assert data["fields"]["content"] == ["A message can have at most 5,000 characters (it has 5,001)."]
    data = error_of(alice_api.post(SEND, {"to": "nobody", "content": "hi"}), 400)
    assert data["fields"]["to"] == ["There is no user called “nobody”."]


def test_a_reply_to_someone_elses_message_reads_like_a_missing_one(alice, bob, carol_api, message):
    theirs = error_of(carol_api.post(SEND, {"reply_to": message.pk, "content": "sneaky"}), 400)
    missing = error_of(carol_api.post(SEND, {"reply_to": 2**62, "content": "sneaky"}), 400)
    assert theirs == missing and theirs["fields"] == {"reply_to": ["No such message."]}


def test_a_reply_to_a_deleted_message_is_refused(alice, bob_api, message):
    actions.delete_message(message, by=alice)
    data = error_of(bob_api.post(SEND, {"reply_to": message.pk, "content": "too late"}), 400)
    assert data["fields"] == {"content": ["The message you are replying to was deleted."]}


# --- Reading, editing and deleting one message -----------------------------------------------------


def test_get_a_message_with_its_etag(alice_api, bob_api, message):
    for client in (alice_api, bob_api):
        response = client.get(detail_url(message))
        assert response.status_code == 200
        assert response.json()["content"] == "Hello Bob"
        assert response["ETag"] == f'"{actions.content_token("Hello Bob")}"'


@pytest.mark.parametrize("if_match", [None, "*", "{etag}", "W/{etag}", "{token}"])
def test_edit(alice, alice_api, message, if_match):
    token = actions.content_token(message.content)
    headers = {} if if_match is None else {"If-Match": if_match.format(etag=f'"{token}"', token=token)}
    response = alice_api.patch(detail_url(message), {"content": "Hello Bob, edited"}, headers=headers)
    assert response.status_code == 200, response.content
    assert response.json()["content"] == "Hello Bob, edited" and response.json()["edited"] is True
    assert response["ETag"] == f'"{actions.content_token("Hello Bob, edited")}"'
    assert list(MessageHistory.objects.filter(message=message).values_list("old_content", flat=True)) == ["Hello Bob"]


@pytest.mark.parametrize("if_match", ['"0000000000000000"', "garbage\x7f", '"' + "a" * 200 + '"'])
def test_edit_conflict_is_409_with_the_current_text(alice, alice_api, message, if_match):
    actions.edit_message(message, editor=alice, content="changed elsewhere")
    data = error_of(alice_api.patch(detail_url(message), {"content": "mine"}, headers={"If-Match": if_match}), 409)
    assert data["code"] == "edit_conflict"
    assert data["current"]["content"] == "changed elsewhere" and data["current"]["id"] == message.pk
    message.refresh_from_db()
    assert message.content == "changed elsewhere"


def test_edit_after_a_conflict_with_the_new_etag(alice, alice_api, message):
    stale = alice_api.get(detail_url(message))["ETag"]
    actions.edit_message(message, editor=alice, content="changed elsewhere")
    conflict = alice_api.patch(detail_url(message), {"content": "mine"}, headers={"If-Match": stale})
    response = alice_api.patch(detail_url(message), {"content": "mine"}, headers={"If-Match": conflict["ETag"]})
    assert response.status_code == 200 and response.json()["content"] == "mine"


def test_only_the_sender_edits_or_deletes(bob_api, message):
    error_of(bob_api.patch(detail_url(message), {"content": "not mine"}), 404)
    error_of(bob_api.delete(detail_url(message)), 404)
    message.refresh_from_db()
    assert message.content == "Hello Bob" and not message.is_deleted


def test_edit_refuses_bad_content_and_keeps_the_text(alice_api, message):
    data = error_of(alice_api.patch(detail_url(message), {"content": ""}), 400)
    assert data["fields"] == {"content": ["A message can't be empty."]}
    message.refresh_from_db()
    assert message.content == "Hello Bob"


def test_delete_own_message(alice, bob, alice_api, bob_api, message):
    reply = actions.reply_to_message(message, sender=bob, content="a reply keeps the placeholder")
    assert alice_api.delete(detail_url(message)).status_code == 204
    assert alice_api.delete(detail_url(message)).status_code == 204  # twice is done once
    shown = bob_api.get(detail_url(message)).json()
    assert shown["deleted"] is True and shown["content"] is None and shown["content_token"] is None
    listed = bob_api.get(messages_url(message.conversation)).json()["results"]
    assert [(m["id"], m["content"]) for m in listed] == [(reply.pk, reply.content), (message.pk, None)]
    assert bob_api.get(reverse("api:message-history", args=[message.pk])).json()["versions"] == []
    error_of(alice_api.patch(detail_url(message), {"content": "back"}), 400)


def test_a_deleted_message_without_replies_leaves_the_list(alice, alice_api, message):
    alice_api.delete(detail_url(message))
    assert alice_api.get(messages_url(message.conversation)).json()["results"] == []


# --- Threads and history ---------------------------------------------------------------------------


def test_thread_has_every_reply_with_its_depth(alice, bob, bob_api, message):
    first = actions.reply_to_message(message, sender=bob, content="depth 1")
    second = actions.reply_to_message(first, sender=alice, content="depth 2")
    third = actions.reply_to_message(second, sender=bob, content="depth 3")
    other = actions.reply_to_message(message, sender=alice, content="depth 1 again")
    data = bob_api.get(reverse("api:message-thread", args=[message.pk])).json()
    assert data["root"]["id"] == message.pk
    assert [(r["id"], r["depth"], r["parent"]) for r in data["replies"]] == [
        (first.pk, 1, message.pk), (second.pk, 2, first.pk), (third.pk, 3, second.pk), (other.pk, 1, message.pk),
    ]  # fmt: skip
    actions.delete_message(second, by=alice)  # still answered: a placeholder
    replies = bob_api.get(reverse("api:message-thread", args=[message.pk])).json()["replies"]
    assert [(r["id"], r["content"]) for r in replies][1] == (second.pk, None)


def test_history_pages_back_through_every_version(alice, bob_api, message):
    for n in range(12):
        actions.edit_message(message, editor=alice, content=f"version {n + 1}")
    url = reverse("api:message-history", args=[message.pk])
    first = bob_api.get(url).json()
    assert first["versions"][0] == {**first["versions"][0], "content": "version 12", "current": True}
    assert len(first["versions"]) == 11 and first["older"]  # the current text and 10 earlier versions
    rest = bob_api.get(first["older"]).json()
    contents = [v["content"] for v in first["versions"] + rest["versions"]]
    assert contents == [f"version {n}" for n in range(12, 0, -1)] + ["Hello Bob"]
    assert rest["older"] is None
    changes = first["versions"][0]["changes"]
    assert {"text": "12", "change": "added"} in changes and {"text": "11", "change": "removed"} in changes


def test_history_refuses_a_bad_anchor(bob_api, message):
    error_of(bob_api.get(reverse("api:message-history", args=[message.pk]) + "?before=abc"), 400)


# --- Lists and their anchored pages ----------------------------------------------------------------


def test_conversation_messages_page_by_anchor(alice, bob, alice_api):
    sent = [actions.send_message(alice if n % 2 else bob, to=bob if n % 2 else alice, content=f"m{n}") for n in range(7)]
    conversation = sent[0].conversation
    first = alice_api.get(messages_url(conversation, limit=3)).json()
    assert [m["content"] for m in first["results"]] == ["m6", "m5", "m4"]
    assert first["newer"] is None and first["older"] == messages_url(conversation, before=sent[4].pk, limit=3)
    second = alice_api.get(first["older"]).json()
    assert [m["content"] for m in second["results"]] == ["m3", "m2", "m1"]
    assert second["newer"] == messages_url(conversation, after=sent[3].pk, limit=3)
    last = alice_api.get(second["older"]).json()
    assert [m["content"] for m in last["results"]] == ["m0"] and last["older"] is None
    newer = alice_api.get(messages_url(conversation, after=sent[1].pk, limit=2)).json()
    assert [m["content"] for m in newer["results"]] == ["m3", "m2"] and newer["newer"]
    assert alice_api.get(messages_url(conversation, after=sent[6].pk)).json()["results"] == []
    assert first["version"] == conversation.__class__.objects.get(pk=conversation.pk).version


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "before=0", "before=-1", "after=abc", f"before={2**63}", "before=1&after=2"]
)
def test_page_parameters_are_checked(alice_api, message, query):
    for url in (messages_url(message.conversation), reverse("api:unread")):
        data = error_of(alice_api.get(f"{url}?{query}"), 400)
        assert data["fields"]


def test_unread_messages_newest_first(alice, bob, carol, bob_api):
    sent = [actions.send_message(alice if n % 2 else carol, to=bob, content=f"u{n}") for n in range(5)]
    actions.send_message(bob, to=alice, content="not unread for bob")
    page = bob_api.get(reverse("api:unread") + "?limit=2").json()
    assert [m["content"] for m in page["results"]] == ["u4", "u3"]
    rest = bob_api.get(page["older"]).json()
    assert [m["content"] for m in rest["results"]] == ["u2", "u1"]
    actions.mark_conversation_read(sent[0].conversation, user=bob)  # Carol's: u0, u2, u4
    assert [m["content"] for m in bob_api.get(reverse("api:unread")).json()["results"]] == ["u3", "u1"]
    # The anchor may have been read meanwhile: the page still continues after it.
    assert [m["content"] for m in bob_api.get(f"{reverse('api:unread')}?before={sent[4].pk}").json()["results"]] == ["u3", "u1"]


def test_an_anchor_that_is_not_yours_tells_nothing(alice, bob, carol, bob_api):
    actions.send_message(alice, to=bob, content="for bob")
    theirs = actions.send_message(alice, to=carol, content="not bob's")
    assert bob_api.get(f"{reverse('api:unread')}?before={theirs.pk}").json()["results"] == []
    assert bob_api.get(f"{reverse('api:unread')}?after={theirs.pk}").json()["results"] == []


def test_conversations_with_last_message_and_unread_count(alice, bob, carol, alice_api):
    actions.send_message(bob, to=alice, content="bob 1")
    actions.send_message(bob, to=alice, content="bob 2")
    actions.send_message(alice, to=carol, content="to carol")
    page = alice_api.get(reverse("api:conversation-list") + "?limit=1").json()
    assert [(c["partner"], c["last_message"]["content"], c["last_message"]["sender"], c["unread_count"]) for c in page["results"]] == [
        ("carol", "to carol", "alice", 0)
    ]  # fmt: skip
    rest = alice_api.get(page["next"]).json()
    assert [(c["partner"], c["last_message"]["sender"], c["unread_count"]) for c in rest["results"]] == [("bob", "bob", 2)]
    assert rest["next"] is None


def test_mark_a_conversation_read(alice, bob, bob_api, message):
    url = reverse("api:conversation-read", args=[message.conversation_id])
    assert bob_api.post(url).json() == {"marked": 1}
    assert bob_api.post(url).json() == {"marked": 0}
    assert bob_api.get(reverse("api:me")).json()["unread_count"] == 0
    assert Notification.objects.get(message=message, user=bob).read


def test_notifications_read_one_and_all(alice, bob, bob_api, message):
    second = actions.send_message(alice, to=bob, content="again")
    data = bob_api.get(reverse("api:notification-list")).json()
    assert [(n["message"]["content"], n["read"], n["kind"]) for n in data["results"]] == [("again", False, "message"), ("Hello Bob", False, "message")]
    one = Notification.objects.get(message=second)
    assert bob_api.post(reverse("api:notification-read", args=[one.pk])).json() == {"marked": 1}
    assert bob_api.post(reverse("api:notifications-read-all")).json() == {"marked": 1}
    assert not Notification.objects.filter(user=bob, read=False).exists()


def test_notifications_filter_by_kind_as_the_page_does(alice, bob, alice_api, bob_api, message):
    actions.reply_to_message(message, sender=bob, content="a reply")
    actions.mark_conversation_read(message.conversation, user=bob)  # alice gets a read receipt
    url = reverse("api:notification-list")
    kinds = lambda data: [n["kind"] for n in data["results"]]  # noqa: E731
    assert set(kinds(alice_api.get(url).json())) == {"reply", "read"}
    assert kinds(alice_api.get(url, {"kind": "read"}).json()) == ["read"]
    assert kinds(alice_api.get(url, {"kind": "message"}).json()) == []
    assert kinds(bob_api.get(url, {"kind": "message"}).json()) == ["message"]
    # The next page keeps the kind.
    for n in range(3):
        actions.send_message(alice, to=bob, content=f"more {n}")
    first = bob_api.get(url, {"kind": "message", "limit": 2}).json()
    assert "kind=message" in first["next"]
    assert kinds(bob_api.get(first["next"]).json()) == ["message", "message"]
    error_of(alice_api.get(url, {"kind": "nonsense"}), 400)


def test_me_and_user_search(alice, bob, make_user, alice_api):
    bob.email = "bob@example.com"
    bob.save()
    make_user("bobby")
    assert alice_api.get(reverse("api:me")).json()["username"] == "alice"
    response = alice_api.get(reverse("api:user-search") + "?prefix=BO")
    assert response.json() == {"results": ["bob", "bobby"]}
    assert b"example.com" not in response.content
    assert alice_api.get(reverse("api:user-search") + "?prefix=").json() == {"results": []}
    error_of(alice_api.get(reverse("api:user-search") + "?prefix=" + "b" * 151), 400)


def test_delete_the_account_with_the_password(alice, bob, alice_api, message):
    error_of(alice_api.delete(reverse("api:me"), {"password": "wrong"}), 400)
    error_of(alice_api.delete(reverse("api:me")), 400)
    assert alice_api.delete(reverse("api:me"), {"password": PASSWORD}).status_code == 204
    assert not type(alice).objects.filter(pk=alice.pk).exists()
    assert not Message.objects.exists()
    error_of(alice_api.get(reverse("api:me")), 401)  # the token went with the account


# --- The cached list of a conversation's messages --------------------------------------------------


def _queries_on_messages(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return sum("messaging_message" in q["sql"] for q in queries.captured_queries)


def test_messages_are_cached_per_user_and_version(alice, bob, alice_api, bob_api, message):
    url = messages_url(message.conversation)
    assert _queries_on_messages(alice_api, url) == 1
    assert _queries_on_messages(alice_api, url) == 0  # from the cache
    assert _queries_on_messages(bob_api, url) == 1  # Bob has his own copy
    actions.send_message(bob, to=alice, content="a write raises the version")
    assert [m["content"] for m in alice_api.get(url).json()["results"]] == ["a write raises the version", "Hello Bob"]
    actions.edit_message(message, editor=alice, content="an edit too")
    assert alice_api.get(url).json()["results"][1]["content"] == "an edit too"
    actions.mark_conversation_read(message.conversation, user=bob)
    assert alice_api.get(url).json()["results"][1]["read"] is True


def test_cached_messages_are_never_served_after_the_token_or_session_ends(alice, bob, token_for, message):
    from knox.models import AuthToken

    url = messages_url(message.conversation)
    token = token_for(alice)
    client = api_client(token)
    assert client.get(url).status_code == 200
    actions.revoke_api_token(AuthToken.objects.get(token_key=token[:15]))
    error_of(client.get(url), 401)

    browser = Client()
    browser.force_login(alice)
    assert browser.get(url).status_code == 200
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    browser.post(reverse("logout"))
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    error_of(replay.get(url), 401)


def test_cached_messages_are_never_served_to_a_stranger_or_after_the_partner_left(alice, bob, alice_api, carol_api, message):
    url = messages_url(message.conversation)
    assert alice_api.get(url).status_code == 200
    error_of(carol_api.get(url), 404)
    actions.delete_account(bob)
    error_of(alice_api.get(url), 404)


# --- Errors ---------------------------------------------------------------------------------------


def test_a_body_over_the_upload_limit_is_413(alice_api, message):
    big = {"to": "bob", "content": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    for method, url in [("post", SEND), ("patch", detail_url(message)), ("delete", reverse("api:me"))]:
        data = error_of(getattr(alice_api, method)(url, big), 413)
        assert data["code"] == "payload_too_large"
    assert Message.objects.count() == 1


def test_a_body_over_the_limit_without_a_declared_length_is_413(alice_api):
    from io import BytesIO

    from messaging.api.parsers import JSONParser

    with pytest.raises(errors.PayloadTooLarge):
        JSONParser().parse(BytesIO(b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)), parser_context={})


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[" * 100_000, "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        ('{"to": "bob", "content": NaN}', "application/json", 400),
        ("to=bob&content=hi", "application/x-www-form-urlencoded", 415),
        ("<xml/>", "text/xml", 415),
    ],
)
def test_unreadable_bodies_are_4xx_in_json(alice_api, body, content_type, status):
    error_of(alice_api.post(SEND, body, content_type=content_type), status)


def test_unknown_api_urls_and_methods_are_json(alice_api):
    assert error_of(alice_api.get("/api/v1/nothing/"), 404)["code"] == "not_found"
    assert error_of(Client().get("/api/v1/messages/1/nothing/"), 404)
    assert error_of(alice_api.put(SEND, {}), 405)["code"] == "method_not_allowed"
    assert Client().get("/no-such-page/").status_code == 404  # the HTML keeps its page
    assert "text/html" in Client().get("/no-such-page/")["Content-Type"]


def test_a_crash_is_still_json_under_the_api():
    factory = RequestFactory()
    assert error_of(errors.server_error(factory.get("/api/v1/me/")), 500)["code"] == "server_error"
    assert "text/html" in errors.server_error(factory.get("/"))["Content-Type"]
    assert error_of(errors.bad_request(factory.get("/api/v1/me/")), 400)


def test_a_lost_database_is_a_json_503(alice_api, monkeypatch):
    def lost(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(selectors, "usernames_starting", lost)
    response = alice_api.get(reverse("api:user-search") + "?prefix=a")
    assert error_of(response, 503)["code"] == "unavailable" and response["Retry-After"] == "5"


def limit_of(name: str) -> int:
    from django_ratelimit.core import _split_rate

    return _split_rate(settings.RATE_LIMITS[name])[0]


def test_sending_shares_the_htmls_limit(alice, bob, alice_api, alice_client, message):
    for n in range(limit_of("send") - 1):
        assert alice_api.post(SEND, {"to": "bob", "content": f"m{n}"}).status_code == 201
    assert alice_client.post(message.conversation.get_absolute_url(), {"content": "the last one"}).status_code == 302
    for body in ({"to": "bob", "content": "one too many"}, {"reply_to": message.pk, "content": "one too many"}, {}):
        response = alice_api.post(SEND, body)
        data = error_of(response, 429)
        assert data["code"] == "rate_limited" and data["retry_after"] == int(response["Retry-After"]) > 0
        assert "sending messages too fast" in data["detail"]
    assert not Message.objects.filter(content="one too many").exists()


def test_edits_are_limited(alice, alice_api, message):
    for n in range(limit_of("edit")):
        assert alice_api.patch(detail_url(message), {"content": f"v{n}"}).status_code == 200
    error_of(alice_api.patch(detail_url(message), {"content": "one too many"}), 429)


def test_password_checks_are_limited_before_the_password_is_checked(alice, alice_api):
    for _ in range(limit_of("password")):
        error_of(alice_api.delete(reverse("api:me"), {"password": "guess"}), 400)
    error_of(alice_api.delete(reverse("api:me"), {"password": PASSWORD}), 429)  # even the right one
    assert type(alice).objects.filter(pk=alice.pk).exists()


@override_settings(RATELIMIT_ENABLE=False)
def test_limits_can_be_switched_off_for_tests(alice, bob, alice_api):
    for n in range(limit_of("send") + 1):
        assert alice_api.post(SEND, {"to": "bob", "content": f"m{n}"}).status_code == 201


# --- The schema and the docs page -----------------------------------------------------------------


def test_the_schema_is_valid_and_covers_every_api_url(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    from .test_api_access import SERVED

    text = out.read_text()
    for route, _ in SERVED.values():
        if route.startswith("api/v1/"):
            path = "/" + re.sub(r"<int:(\w+)>", r"{\1}", route)
            assert f"\n  {path}:" in text, f"{path} is not in the schema"


def test_the_docs_page_loads_everything_from_static_under_the_csp():
    response = Client().get(reverse("api:docs"), secure=True)
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts), scripts
    assert "<style" not in html and " style=" not in html and " on" not in re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/static/") for url in assets), assets
    for url in assets:
        from django.contrib.staticfiles import finders

        assert finders.find(url.removeprefix("/static/")), f"{url} is not in our static files"
    assert 'data-schema-url="/api/schema/"' in html
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert response["X-Frame-Options"] == "DENY"


def test_the_schema_is_served_as_yaml_and_json():
    assert Client().get(reverse("api:schema")).content.startswith(b"openapi: 3.0.3")
    assert Client().get(reverse("api:schema") + "?format=json").json()["openapi"] == "3.0.3"


def test_session_callers_are_the_browser(alice):
    """A browser signed in to the HTML can read the API with its cookie (the docs page's
    "Try it out"); JsonClient with force_login stands in for it."""
    client = JsonClient()
    client.force_login(alice)
    assert client.get(reverse("api:me")).json()["username"] == "alice"
