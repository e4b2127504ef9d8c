import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from messaging import actions
from messaging.models import MAX_CONTENT_LENGTH, Conversation, Message, Notification

pytestmark = pytest.mark.django_db


def test_create_from_shell_fills_the_conversation(alice, bob):
    message = Message.objects.create(sender=alice, receiver=bob, content="  hi  ")

    assert message.content == "hi"
    assert message.conversation == Conversation.objects.between(alice, bob).get()
    assert Message.objects.create(sender=bob, receiver=alice, content="yo").conversation == message.conversation


def test_reply_from_shell_joins_its_parents_conversation(alice, bob):
    parent = Message.objects.create(sender=alice, receiver=bob, content="question")
    reply = Message.objects.create(sender=bob, receiver=alice, content="answer", parent_message=parent)

    assert reply.conversation_id == parent.conversation_id
    assert list(parent.replies.all()) == [reply]


def test_one_conversation_per_unordered_pair(alice, bob):
    Message.objects.create(sender=alice, receiver=bob, content="a")
    Message.objects.create(sender=bob, receiver=alice, content="b")
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("content", ["", "   ", "\n\t", "x" * (MAX_CONTENT_LENGTH + 1)])
def test_invalid_content_is_rejected_not_truncated(alice, bob, content):
    with pytest.raises(ValidationError) as error:
        Message.objects.create(sender=alice, receiver=bob, content=content)
    assert "content" in error.value.message_dict
    assert Message.objects.count() == 0


def test_content_of_exactly_the_limit_is_kept_whole(alice, bob):
    message = Message.objects.create(sender=alice, receiver=bob, content="é" * MAX_CONTENT_LENGTH)
    message.refresh_from_db()
    assert len(message.content) == MAX_CONTENT_LENGTH


def test_reply_must_stay_between_the_same_two_people(alice, bob, carol):
    parent = Message.objects.create(sender=alice, receiver=bob, content="private")
    with pytest.raises(ValidationError) as error:
        Message.objects.create(sender=carol, receiver=alice, content="intrusion", parent_message=parent)
    assert "parent_message" in error.value.message_dict


def test_note_to_self_is_read_and_notifies_nobody(alice):
    note = Message.objects.create(sender=alice, receiver=alice, content="buy milk")
    assert note.read is True
    assert Notification.objects.count() == 0
    assert Message.unread.unread_count(alice) == 0


def test_unread_manager_returns_only_the_users_unread(alice, bob, carol):
    to_bob = actions.send_message(alice, to=bob, content="for bob")
    actions.send_message(alice, to=carol, content="for carol")
    already_read = actions.send_message(carol, to=bob, content="read one")
    actions.set_messages_read(Message.objects.filter(pk=already_read.pk), read=True)

    assert list(Message.unread.for_user(bob)) == [to_bob]
    assert Message.unread.unread_count(bob) == 1
    assert Message.unread.unread_count(alice) == 0


def test_unread_for_user_defers_what_the_inbox_does_not_show(alice, bob):
    actions.send_message(alice, to=bob, content="hi")
    row = Message.unread.for_user(bob).get()
    deferred = row.get_deferred_fields()
    assert {"edited", "read", "changed_version"} <= deferred
    assert "content" not in deferred and "timestamp" not in deferred
    assert row.sender.username == "alice"  # joined, not a query per row


def test_default_manager_stays_objects():
    assert Message._default_manager.name == "objects"


@pytest.mark.skipif(connection.vendor == "mysql", reason="MySQL has no partial indexes")
def test_unread_index_is_partial():
    index = next(i for i in Message._meta.indexes if i.name == "msg_unread_page_idx")
    assert index.condition is not None
    assert index.fields == ["receiver", "-timestamp", "-id"]  # the page's order, tie-break included
