"""Deleting your own message: for both people, with its history and notifications."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from messaging import actions, selectors
from messaging.models import Message, MessageHistory, Notification
from messaging.unread import unread_badge_count

from .conftest import HX

pytestmark = pytest.mark.django_db


def delete_url(message):
    return reverse("messaging:message-delete", args=[message.pk])


def test_the_sender_deletes_for_both(alice, bob, message):
    actions.edit_message(message, editor=alice, content="Hello Bob, edited")
    assert unread_badge_count(bob) == 1
    actions.delete_message(message, by=alice)
    message.refresh_from_db()
    assert message.is_deleted and message.content == "" and not message.edited
    assert not MessageHistory.objects.filter(message=message).exists()
    assert not Notification.objects.filter(message=message).exists()
    assert unread_badge_count(bob) == 0
    for user in (alice, bob):
        page = selectors.conversation_page(user, message.conversation)
        assert page.message_rows == []  # no replies: nothing left to show


def test_a_deleted_message_with_replies_stays_as_a_placeholder(alice, bob, message):
    reply = actions.reply_to_message(message, sender=bob, content="an answer")
    actions.delete_message(message, by=alice)
    rows = selectors.conversation_page(bob, message.conversation).message_rows
    assert [r.pk for r in rows] == [message.pk, reply.pk]
    assert rows[0].is_deleted and rows[0].reply_count == 1
    # The thread still reads; once the reply goes too, so does the placeholder.
    assert [n.message.pk for n in selectors.thread(message).nodes] == [reply.pk]
    actions.delete_message(reply, by=bob)
    assert selectors.conversation_page(bob, message.conversation).message_rows == []


def test_a_deleted_leaf_leaves_the_thread(alice, bob, message):
    first = actions.reply_to_message(message, sender=bob, content="first")
    second = actions.reply_to_message(first, sender=alice, content="second")
    actions.delete_message(second, by=alice)
    assert [n.message.pk for n in selectors.thread(message).nodes] == [first.pk]
    assert selectors.message_for_display(first.pk).reply_count == 0


def test_only_the_sender_deletes(alice, bob, bob_client, message):
    with pytest.raises(PermissionDenied):
        actions.delete_message(message, by=bob)
    for headers in ({}, HX):
        assert bob_client.get(delete_url(message), headers=headers).status_code == 404
        assert bob_client.post(delete_url(message), headers=headers).status_code == 404
    message.refresh_from_db()
    assert not message.is_deleted


def test_deleted_messages_take_no_reply_and_no_edit(alice, bob, message):
    actions.delete_message(message, by=alice)
    with pytest.raises(ValidationError):
        actions.reply_to_message(message, sender=bob, content="too late")
    with pytest.raises(ValidationError):
        actions.edit_message(message, editor=alice, content="resurrected")


def test_plain_post_confirms_then_deletes(alice_client, message):
    page = alice_client.get(delete_url(message))
    assert page.status_code == 200 and b"Delete this message?" in page.content and b"Hello Bob" in page.content
    response = alice_client.post(delete_url(message))
    assert response.status_code == 302 and response["Location"] == message.conversation.get_absolute_url()
    message.refresh_from_db()
    assert message.is_deleted
    assert alice_client.get(delete_url(message)).status_code == 404  # nothing left to confirm


def test_htmx_post_replaces_the_message_in_place(alice, bob, alice_client, message):
    response = alice_client.post(delete_url(message), headers=HX)
    assert response.status_code == 200 and b"hidden" in response.content and b"Hello Bob" not in response.content
    kept = actions.send_message(alice, to=bob, content="with a reply")
    actions.reply_to_message(kept, sender=bob, content="the reply")
    html = alice_client.post(delete_url(kept), headers=HX).content.decode()
    assert f'id="message-{kept.pk}"' in html and "Message deleted" in html and "with a reply" not in html
    assert alice_client.post(delete_url(kept), headers=HX).status_code == 200  # twice is fine


def test_the_other_page_learns_it_is_gone(alice, bob, bob_client, message):
    page = bob_client.get(message.conversation.get_absolute_url())
    actions.delete_message(message, by=alice)
    poll = reverse("messaging:conversation-poll", args=[message.conversation_id])
    html = bob_client.get(poll, {"v": page.context["version"], "newest": page.context["newest_id"]}, headers=HX).content.decode()
    assert f'hx-swap-oob="delete:#message-{message.pk}"' in html and "Hello Bob" not in html


def test_the_inbox_forgets_it(alice, bob, bob_client, message):
    earlier = actions.send_message(bob, to=alice, content="an earlier word")
    latest = actions.send_message(alice, to=bob, content="the latest word")
    actions.delete_message(latest, by=alice)
    html = bob_client.get(reverse("messaging:inbox")).content.decode()
    assert "the latest word" not in html and "an earlier word" in html  # the preview is the last one left
    assert Message.unread.unread_count(bob) == 1 and earlier.pk
