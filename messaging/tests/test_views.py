import re

import pytest
from django.urls import reverse

from messaging import actions
from messaging.models import Message, MessageHistory, Notification

from .conftest import HX, signed_out

pytestmark = pytest.mark.django_db


def conversation_url(conversation):
    return reverse("messaging:conversation-detail", args=[conversation.pk])


# --- Pages need a login --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["messaging:inbox", "messaging:compose", "messaging:notifications", "messaging:settings"])
def test_pages_need_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_htmx_request_without_login_navigates_to_login(client):
    response = client.get(reverse("messaging:unread-badge"), headers=HX)
    assert signed_out(response)


def test_signup_logs_in(client, django_user_model):
    response = client.post(
        reverse("signup"), {"username": "dora", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
    )
    assert response.status_code == 302
    assert django_user_model.objects.filter(username="dora").exists()
    assert client.get(reverse("messaging:inbox")).status_code == 200


# --- Inbox ------------------------------------------------------------------------------


def test_inbox_lists_unread_and_conversations(bob_client, message):
    response = bob_client.get(reverse("messaging:inbox"))
    html = response.content.decode()
    assert "Hello Bob" in html and "alice" in html
    assert 'data-testid="conversation-unread">1<' in html


def test_inbox_pages_hold_at_most_50_rows(alice, bob, bob_client, make_user):
    for n in range(55):
        actions.send_message(make_user(f"user{n:02}"), to=bob, content=f"msg {n}")
    response = bob_client.get(reverse("messaging:inbox"))
    html = response.content.decode()
    assert html.count('data-testid="conversation"') == 50
    assert html.count('data-testid="unread-message"') == 20
    cursor = response.context["conversations"].next_cursor
    more = bob_client.get(reverse("messaging:inbox"), {"conversations_after": cursor}, headers=HX)
    assert b"<html" not in more.content
    assert more.content.decode().count('data-testid="conversation"') == 5


# --- Conversation -----------------------------------------------------------------------


def test_opening_a_conversation_marks_it_read(bob_client, bob, conversation):
    response = bob_client.get(conversation_url(conversation))
    assert response.status_code == 200
    assert Message.unread.unread_count(bob) == 0
    assert not Notification.objects.filter(user=bob, read=False).exists()


def test_sender_sees_seen_once_read(alice_client, bob_client, conversation):
    assert b'data-testid="seen"' not in alice_client.get(conversation_url(conversation)).content
    bob_client.get(conversation_url(conversation))
    assert b'data-testid="seen"' in alice_client.get(conversation_url(conversation)).content


def test_send_in_conversation_plain_post_redirects(alice_client, conversation):
    response = alice_client.post(conversation_url(conversation), {"content": "second"})
    assert response.status_code == 302
    assert Message.objects.filter(content="second", conversation=conversation).exists()


def test_send_in_conversation_htmx_returns_the_message(alice_client, conversation):
    response = alice_client.post(conversation_url(conversation), {"content": "second"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "second" in html and 'hx-swap-oob="beforeend:#message-items"' in html  # with the cleared form


@pytest.mark.parametrize("content,error", [("   ", "can&#x27;t be empty"), ("x" * 5001, "at most 5,000")])
def test_send_errors_are_inline_and_keep_the_text(alice_client, conversation, content, error):
    for headers in ({}, HX):
        response = alice_client.post(conversation_url(conversation), {"content": content}, headers=headers)
        html = response.content.decode()
        assert response.status_code == 422
        assert error in html
        if content.strip():
            assert content in html
    assert Message.objects.count() == 1


def test_stranger_gets_404_everywhere(carol_client, message, conversation):
    urls = [
        conversation_url(conversation),
        reverse("messaging:conversation-messages", args=[conversation.pk]),
        reverse("messaging:conversation-poll", args=[conversation.pk]),
        reverse("messaging:message-detail", args=[message.pk]),
        reverse("messaging:message-reply", args=[message.pk]),
        reverse("messaging:message-edit", args=[message.pk]),
        reverse("messaging:message-history", args=[message.pk]),
        reverse("messaging:thread-detail", args=[message.pk]),
    ]
    for url in urls:
        for headers in ({}, HX):
            assert carol_client.get(url, headers=headers).status_code == 404, url
    assert carol_client.post(conversation_url(conversation), {"content": "x"}).status_code == 404
    assert carol_client.post(reverse("messaging:message-reply", args=[message.pk]), {"content": "x"}).status_code == 404
    assert Message.objects.count() == 1


# --- Cached message list ----------------------------------------------------------------


def messages_url(conversation, **params):
    from urllib.parse import urlencode

    return reverse("messaging:conversation-messages", args=[conversation.pk]) + "?" + urlencode(params)


def test_cached_list_is_per_user(alice_client, bob_client, conversation):
    url = messages_url(conversation, v=conversation.version)
    alice_html = alice_client.get(url, headers=HX).content.decode()
    bob_html = bob_client.get(url, headers=HX).content.decode()
    assert "Edit this message" in alice_html  # Alice wrote it
    assert "Edit this message" not in bob_html


def test_cached_list_varies_on_htmx(alice_client, conversation):
    url = messages_url(conversation, v=conversation.version)
    assert b"<html" in alice_client.get(url).content
    assert b"<html" not in alice_client.get(url, headers=HX).content
    assert b"<html" in alice_client.get(url).content


def test_cache_hit_runs_no_message_query(alice_client, conversation, django_assert_max_num_queries):
    conversation.refresh_from_db()  # the version the page would link to
    url = messages_url(conversation, v=conversation.version)
    alice_client.get(url, headers=HX)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        alice_client.get(url, headers=HX)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "messaging_message" not in sql and "messaging_conversation" not in sql
    assert len(queries) == 0  # the key holds the cookie: no session or user lookup either


def test_new_message_is_visible_on_the_next_request(alice_client, bob_client, alice, bob, conversation):
    page = bob_client.get(conversation_url(conversation))
    old_version = page.context["version"]
    bob_client.get(messages_url(conversation, v=old_version), headers=HX)  # cached
    actions.send_message(alice, to=bob, content="brand new")
    # The page asks for the current version, so the cached copy cannot hide it.
    page = bob_client.get(conversation_url(conversation))
    assert "brand new" in page.content.decode()
    new_version = page.context["version"]
    assert new_version > old_version
    assert "brand new" in bob_client.get(messages_url(conversation, v=new_version), headers=HX).content.decode()


def test_poll_is_204_until_something_changes(alice, bob, bob_client, conversation):
    page = bob_client.get(conversation_url(conversation))
    version, newest = page.context["version"], page.context["newest_id"]
    poll = reverse("messaging:conversation-poll", args=[conversation.pk])
    assert bob_client.get(poll, {"v": version, "newest": newest}, headers=HX).status_code == 204
    actions.send_message(alice, to=bob, content="news")
    response = bob_client.get(poll, {"v": version, "newest": newest}, headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    # Only what changed, out of band: the new row joins the list, the page's version moves on.
    assert "news" in html and "Hello Bob" not in html
    assert 'hx-swap-oob="beforeend:#message-items"' in html
    new_version = int(re.search(r'id="conversation-version" name="v" value="(\d+)"', html).group(1))
    assert new_version > version
    assert bob_client.get(poll, {"v": new_version}, headers=HX).status_code == 204


def test_poll_redraws_a_changed_row_in_place(alice, bob, bob_client, message, conversation):
    page = bob_client.get(conversation_url(conversation))
    version, newest = page.context["version"], page.context["newest_id"]
    actions.edit_message(message, editor=alice, content="Hello Bob, edited")
    html = bob_client.get(
        reverse("messaging:conversation-poll", args=[conversation.pk]), {"v": version, "newest": newest}, headers=HX
    ).content.decode()
    assert f'<article id="message-{message.pk}" hx-swap-oob="true"' in html and "edited" in html
    assert "beforeend:#message-items" not in html


# --- Compose ----------------------------------------------------------------------------


def test_compose_plain_post_redirects_to_the_conversation(alice_client, bob):
    response = alice_client.post(reverse("messaging:compose"), {"to": "bob", "content": "hey"})
    message = Message.objects.get()
    assert response.status_code == 302 and response["Location"] == message.get_absolute_url()


def test_compose_htmx_navigates(alice_client, bob):
    response = alice_client.post(reverse("messaging:compose"), {"to": "BOB", "content": "hey"}, headers=HX)
    assert response["HX-Redirect"] == Message.objects.get().get_absolute_url()


def test_compose_unknown_user_keeps_the_text(alice_client):
    for headers in ({}, HX):
        response = alice_client.post(reverse("messaging:compose"), {"to": "nobody", "content": "my words"}, headers=headers)
        html = response.content.decode()
        assert response.status_code == 422
        assert "There is no user called" in html and "my words" in html
    assert Message.objects.count() == 0


def test_user_search_lists_matches(alice_client, bob, carol):
    response = alice_client.get(reverse("messaging:user-search"), {"to": "b"}, headers=HX)
    html = response.content.decode()
    assert "bob" in html and "carol" not in html and "<html" not in html


# --- Unread badge -----------------------------------------------------------------------


def test_badge_fragment_shows_the_count(bob_client, message):
    response = bob_client.get(reverse("messaging:unread-badge"), headers=HX)
    html = response.content.decode()
    assert 'data-unread-count="1"' in html and "<html" not in html
    assert "HX-Request" in response["Vary"]


def badge_token_of(client) -> str:
    """The badge token as a page hands it to the badge (in hx-headers)."""
    html = client.get(reverse("messaging:inbox")).content.decode()
    return re.search(r'hx-headers=\'\{"X-Badge-Token": "([^"]+)"\}\'', html).group(1)


def test_badge_poll_on_a_cache_hit_does_not_count(bob_client, message, django_assert_max_num_queries):
    bob_client.get(reverse("messaging:unread-badge"), headers=HX)
    with django_assert_max_num_queries(2):  # session and user only
        bob_client.get(reverse("messaging:unread-badge"), headers=HX)


def test_badge_poll_with_its_token_runs_no_query(bob_client, message, django_assert_num_queries):
    token = badge_token_of(bob_client)
    headers = {**HX, "X-Badge-Token": token}
    bob_client.get(reverse("messaging:unread-badge"), headers=headers)  # counted once, then cached
    with django_assert_num_queries(0):
        response = bob_client.get(reverse("messaging:unread-badge"), headers=headers)
    assert 'data-unread-count="1"' in response.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_badge_token_follows_writes(alice, bob, alice_client, bob_client, message):
    headers = {**HX, "X-Badge-Token": badge_token_of(bob_client)}
    assert 'data-unread-count="1"' in bob_client.get(reverse("messaging:unread-badge"), headers=headers).content.decode()
    actions.send_message(alice, to=bob, content="another")
    assert 'data-unread-count="2"' in bob_client.get(reverse("messaging:unread-badge"), headers=headers).content.decode()


def test_a_token_checked_before_still_expires(bob_client, message, settings, django_assert_num_queries):
    """Each process checks a token's signature once; its age, on every poll."""
    headers = {**HX, "X-Badge-Token": badge_token_of(bob_client)}
    bob_client.get(reverse("messaging:unread-badge"), headers=headers)  # the count, into the cache
    with django_assert_num_queries(0):  # the token is taken: no session or user lookup
        assert "X-Badge-Token" not in bob_client.get(reverse("messaging:unread-badge"), headers=headers)
    settings.UNREAD_BADGE_TOKEN_MAX_AGE = -1  # the same token, now past its age
    response = bob_client.get(reverse("messaging:unread-badge"), headers=headers)
    # Refused: answered as a signed-in request, which hands out a token again.
    assert 'data-unread-count="1"' in response.content.decode() and "X-Badge-Token" in response


@pytest.mark.parametrize("case", ["forged", "other salt", "expired", "not a number", "huge"])
def test_badge_without_a_valid_token_is_a_signed_in_request(
    client, bob, bob_client, message, case, settings, django_assert_num_queries
):
    from django.core import signing

    token = badge_token_of(bob_client)
    token = {
        "forged": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "other salt": signing.dumps(bob.pk),
        "expired": token,
        "not a number": signing.dumps("1", salt="messaging.unread-badge"),
        "huge": "x" * 10_000,
    }[case]
    if case == "expired":
        settings.UNREAD_BADGE_TOKEN_MAX_AGE = -1
    headers = {**HX, "X-Badge-Token": token}
    # Nobody signed in: sent to log in, as any page.
    response = client.get(reverse("messaging:unread-badge"), headers=headers)
    assert signed_out(response)
    # Signed in: their own count, and a fresh token (in a header, for app.js) for the next polls.
    response = bob_client.get(reverse("messaging:unread-badge"), headers=headers)
    assert 'data-unread-count="1"' in response.content.decode()
    fresh = response["X-Badge-Token"]
    settings.UNREAD_BADGE_TOKEN_MAX_AGE = 900
    with django_assert_num_queries(0):
        again = bob_client.get(reverse("messaging:unread-badge"), headers={**HX, "X-Badge-Token": fresh})
    assert 'data-unread-count="1"' in again.content.decode() and "X-Badge-Token" not in again


# --- Reply, edit, history, thread ---------------------------------------------------------


def test_reply_plain_and_htmx(bob_client, message):
    url = reverse("messaging:message-reply", args=[message.pk])
    response = bob_client.post(url, {"content": "plain reply"})
    assert response.status_code == 302
    response = bob_client.post(url, {"content": "htmx reply"}, headers=HX)
    assert b"htmx reply" in response.content and b"<html" not in response.content
    assert message.replies.count() == 2


def test_edit_plain_and_htmx(alice_client, message):
    url = reverse("messaging:message-edit", args=[message.pk])
    assert alice_client.post(url, {"content": "plain edit"}).status_code == 302
    response = alice_client.post(url, {"content": "htmx edit"}, headers=HX)
    html = response.content.decode()
    assert "htmx edit" in html and "(edited)" in html and "<html" not in html
    assert MessageHistory.objects.filter(message=message).count() == 2


def test_receiver_cannot_edit(bob_client, message):
    url = reverse("messaging:message-edit", args=[message.pk])
    assert bob_client.get(url).status_code == 404
    assert bob_client.post(url, {"content": "forged"}, headers=HX).status_code == 404
    message.refresh_from_db()
    assert message.content == "Hello Bob" and not message.edited
    assert b"Edit this message" not in bob_client.get(conversation_url(message.conversation)).content


def test_edit_conflict_shows_the_newer_text(alice, alice_client, message):
    url = reverse("messaging:message-edit", args=[message.pk])
    base = actions.content_token(message.content)
    actions.edit_message(message, editor=alice, content="from my phone")
    response = alice_client.post(url, {"content": "from my laptop", "base": base}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 422
    assert "from my phone" in html and "from my laptop" in html and "changed elsewhere" in html
    message.refresh_from_db()
    assert message.content == "from my phone"


def test_edit_error_keeps_the_text(alice_client, message):
    url = reverse("messaging:message-edit", args=[message.pk])
    response = alice_client.post(url, {"content": "y" * 5001}, headers=HX)
    assert response.status_code == 422 and ("y" * 5001).encode() in response.content


def test_history_page_and_fragment(alice, bob_client, message):
    actions.edit_message(message, editor=alice, content="Hello there Bob")
    url = reverse("messaging:message-history", args=[message.pk])
    page = bob_client.get(url).content.decode()
    fragment = bob_client.get(url, headers=HX).content.decode()
    assert "<html" in page and "<html" not in fragment
    assert '<ins class="diff-added">there</ins>' in fragment.replace(" </ins>", "</ins>") or "there" in fragment


def test_thread_page_and_fragment(alice, bob, bob_client, message):
    reply = actions.reply_to_message(message, sender=bob, content="level 1")
    actions.reply_to_message(reply, sender=alice, content="level 2")
    url = reverse("messaging:thread-detail", args=[message.pk])
    page = bob_client.get(url).content.decode()
    fragment = bob_client.get(url, headers=HX).content.decode()
    assert "<html" in page and "level 2" in page
    assert "<html" not in fragment and fragment.index("level 1") < fragment.index("level 2")


def edit_url(message):
    return reverse("messaging:message-edit", args=[message.pk])


def test_edit_form_takes_the_place_of_the_message(alice_client, message):
    fragment = alice_client.get(edit_url(message), headers=HX).content.decode()
    assert "<html" not in fragment
    assert fragment.lstrip().startswith(f'<form id="message-{message.pk}"')  # same id: it swaps in place
    assert "\nHello Bob</textarea>" in fragment
    assert f'name="base" value="{actions.content_token("Hello Bob")}"' in fragment
    page = alice_client.get(edit_url(message)).content.decode()
    assert "<html" in page and "Edit your message" in page and "\nHello Bob</textarea>" in page


def test_cancel_brings_the_message_back_untouched(alice_client, message):
    url = reverse("messaging:message-detail", args=[message.pk])
    fragment = alice_client.get(url, headers=HX).content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith(f'<article id="message-{message.pk}"')
    assert "Hello Bob" in fragment and "(edited)" not in fragment and "Edit this message" in fragment
    response = alice_client.get(url)  # without JavaScript, Cancel is a link back to the conversation
    assert response.status_code == 302 and response["Location"] == message.get_absolute_url()
    message.refresh_from_db()
    assert message.content == "Hello Bob" and not message.edited and not message.history.exists()


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_edit_conflict_shows_the_newer_text_and_saving_again_replaces_it(alice, alice_client, message, headers):
    opened_on = actions.content_token(message.content)
    actions.edit_message(message, editor=alice, content="from my phone")

    response = alice_client.post(edit_url(message), {"content": "from my laptop", "base": opened_on}, headers=headers)
    html = response.content.decode()
    assert response.status_code == 422 and ("<html" in html) == (not headers)
    assert "Changed elsewhere" in html and "from my phone" in html and "\nfrom my laptop</textarea>" in html
    newer = actions.content_token("from my phone")
    assert f'name="base" value="{newer}"' in html  # the form now starts from the newer text
    message.refresh_from_db()
    assert message.content == "from my phone"

    response = alice_client.post(edit_url(message), {"content": "from my laptop", "base": newer}, headers=headers)
    assert response.status_code == (200 if headers else 302)
    message.refresh_from_db()
    assert message.content == "from my laptop"
    assert list(message.history.values_list("old_content", flat=True)) == ["from my phone", "Hello Bob"]


@pytest.mark.parametrize("content,error", [("   ", "can&#x27;t be empty"), ("y" * 5001, "at most 5,000")])
def test_edit_errors_are_inline_and_keep_the_text(alice_client, message, content, error):
    base = actions.content_token(message.content)
    for headers in ({}, HX):
        response = alice_client.post(edit_url(message), {"content": content, "base": base}, headers=headers)
        html = response.content.decode()
        assert response.status_code == 422 and error in html
        assert ("<html" in html) == (not headers)
        assert f'<form id="message-{message.pk}"' in html  # still the form, in place
        if content.strip():
            assert f"\n{content}</textarea>" in html
    message.refresh_from_db()
    assert message.content == "Hello Bob" and not message.edited and not message.history.exists()


def test_receivers_forged_edit_is_404_and_changes_nothing(bob_client, message):
    for headers in ({}, HX):
        response = bob_client.post(edit_url(message), {"content": "forged", "base": ""}, headers=headers)
        assert response.status_code == 404
    message.refresh_from_db()
    assert message.content == "Hello Bob" and not message.edited and not message.history.exists()


def test_history_lists_every_earlier_version_newest_first(alice, alice_client, bob_client, carol_client, message):
    actions.edit_message(message, editor=alice, content="Hello there Bob")
    actions.edit_message(message, editor=alice, content="Hello there, Bob!")
    url = reverse("messaging:message-history", args=[message.pk])
    for client in (alice_client, bob_client):
        for headers in ({}, HX):
            html = client.get(url, headers=headers).content.decode()
            assert ("<html" in html) == (not headers)
            versions = re.findall(r'<div class="version-text"[^>]*>(.*?)</div>', html, re.S)
            shown = [re.sub(r"<[^>]+>", "", re.sub(r"<del [^>]*>.*?</del>", "", v)) for v in versions]
            assert shown == ["Hello there, Bob!", "Hello there Bob", "Hello Bob"]
            added = [[w.strip() for w in re.findall(r"<ins [^>]*>(.*?)</ins>", v)] for v in versions]
            assert added == [[",", "!"], ["there"], []]
            assert html.index("Current version") < html.index("Earlier version")
            times = re.findall(r'<time datetime="([^"]+)"', html.split('id="history-list"', 1)[1])
            assert len(times) == 3 and times == sorted(times, reverse=True)
    assert carol_client.get(url).status_code == 404
    assert carol_client.get(url, headers=HX).status_code == 404


# --- Notifications -------------------------------------------------------------------------


def test_notifications_mark_read_plain_and_htmx(bob_client, bob, alice, message):
    second = actions.send_message(alice, to=bob, content="again")
    first, latest = Notification.objects.get(message=message), Notification.objects.get(message=second)
    assert bob_client.post(reverse("messaging:notification-read", args=[first.pk])).status_code == 302
    response = bob_client.post(reverse("messaging:notification-read", args=[latest.pk]), headers=HX)
    assert b"<html" not in response.content and response["HX-Trigger"]
    assert not Notification.objects.filter(user=bob, read=False).exists()


def test_notification_read_all(bob_client, bob, alice, message):
    actions.send_message(alice, to=bob, content="again")
    assert bob_client.post(reverse("messaging:notifications-read-all")).status_code == 302
    assert not Notification.objects.filter(user=bob, read=False).exists()


def test_someone_elses_notification_is_404(alice_client, message):
    notification = Notification.objects.get()
    assert alice_client.post(reverse("messaging:notification-read", args=[notification.pk])).status_code == 404
    notification.refresh_from_db()
    assert not notification.read


# --- Account deletion ---------------------------------------------------------------------


def test_delete_account_needs_the_password(alice_client, alice, message, django_user_model):
    response = alice_client.post(reverse("messaging:delete-user"), {"password": "wrong"})
    assert response.status_code == 422 and b"not right" in response.content
    assert django_user_model.objects.filter(pk=alice.pk).exists()


def test_delete_account_plain_post(alice_client, alice, message, django_user_model):
    response = alice_client.post(reverse("messaging:delete-user"), {"password": "pw-for-tests-123"})
    assert response.status_code == 302 and response["Location"] == reverse("messaging:goodbye")
    assert not django_user_model.objects.filter(pk=alice.pk).exists()
    assert Message.objects.count() == 0
    assert alice_client.get(reverse("messaging:inbox")).status_code == 302  # logged out


def test_delete_account_htmx(alice_client, alice, django_user_model):
    response = alice_client.post(reverse("messaging:delete-user"), {"password": "pw-for-tests-123"}, headers=HX)
    assert response["HX-Redirect"] == reverse("messaging:goodbye")
    assert not django_user_model.objects.filter(pk=alice.pk).exists()


def test_delete_account_refuses_get_side_effects(alice_client, alice, django_user_model):
    alice_client.get(reverse("messaging:delete-user"), {"password": "pw-for-tests-123"})
    assert django_user_model.objects.filter(pk=alice.pk).exists()
