import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections, connection

from messaging import actions
from messaging.models import Message, MessageHistory, Notification
from messaging.unread import unread_badge_count

pytestmark = pytest.mark.django_db


def test_send_message_stores_and_notifies(alice, bob):
    message = actions.send_message(alice, to=bob, content="  hello  ")
    assert message.content == "hello"
    assert Notification.objects.filter(user=bob, message=message).count() == 1
    message.conversation.refresh_from_db()
    assert message.conversation.version == 1
    # Stamped in its INSERT: the object and the row agree.
    assert message.changed_version == 1 and Message.objects.get(pk=message.pk).changed_version == 1


@pytest.mark.parametrize("content", ["", "  ", "x" * 5001])
def test_send_rejects_bad_content_and_writes_nothing(alice, bob, content):
    with pytest.raises(ValidationError):
        actions.send_message(alice, to=bob, content=content)
    assert Message.objects.count() == 0
    assert Notification.objects.count() == 0


def test_send_to_a_deleted_user_is_a_clear_error(alice, bob):
    actions.delete_account(bob)
    with pytest.raises(ValidationError) as error:
        actions.send_message(alice, to=bob, content="are you there?")
    assert "no longer has an account" in str(error.value)
    assert Message.objects.count() == 0


def test_reply_goes_to_the_other_participant(alice, bob, message):
    reply = actions.reply_to_message(message, sender=bob, content="hi alice")
    assert (reply.sender, reply.receiver, reply.parent_message, reply.conversation_id) == (
        bob,
        alice,
        message,
        message.conversation_id,
    )
    self_reply = actions.reply_to_message(message, sender=alice, content="PS")
    assert self_reply.receiver == bob


def test_only_participants_reply(carol, message):
    with pytest.raises(PermissionDenied):
        actions.reply_to_message(message, sender=carol, content="me too")
    assert Message.objects.count() == 1


def test_reply_to_a_deleted_message_is_a_clear_error(alice, bob, message):
    Message.objects.filter(pk=message.pk).delete()
    with pytest.raises(ValidationError) as error:
        actions.reply_to_message(message, sender=bob, content="late")
    assert "deleted" in str(error.value)
    assert Message.objects.count() == 0


def test_only_the_sender_edits(bob, message):
    with pytest.raises(PermissionDenied):
        actions.edit_message(message, editor=bob, content="forged")
    message.refresh_from_db()
    assert message.content == "Hello Bob"
    assert MessageHistory.objects.count() == 0


def test_edit_keeps_history_and_marks_edited(alice, message):
    actions.edit_message(message, editor=alice, content="Hello Bob!")
    actions.edit_message(message, editor=alice, content="Hello Bob!!")
    message.refresh_from_db()
    assert message.edited
    assert list(message.history.order_by("pk").values_list("old_content", flat=True)) == ["Hello Bob", "Hello Bob!"]


def test_edit_with_the_same_text_records_nothing(alice, message):
    actions.edit_message(message, editor=alice, content="  Hello Bob ")
    assert MessageHistory.objects.count() == 0


def test_edit_conflict_is_detected(alice, message):
    token = actions.content_token(message.content)
    actions.edit_message(message, editor=alice, content="changed in another tab")
    with pytest.raises(actions.EditConflict) as conflict:
        actions.edit_message(message, editor=alice, content="my version", base_token=token)
    assert conflict.value.current.content == "changed in another tab"
    message.refresh_from_db()
    assert message.content == "changed in another tab"


def test_edit_of_a_deleted_message_is_a_clear_error(alice, message):
    Message.objects.filter(pk=message.pk).delete()
    with pytest.raises(ValidationError):
        actions.edit_message(message, editor=alice, content="new")
    assert MessageHistory.objects.count() == 0


def test_mark_conversation_read_clears_unread_and_notifications(alice, bob, message):
    actions.send_message(alice, to=bob, content="second")
    assert unread_badge_count(bob) == 2
    assert actions.mark_conversation_read(message.conversation, user=bob) == 2
    assert Message.unread.unread_count(bob) == 0
    assert not Notification.objects.filter(user=bob, read=False).exists()
    assert unread_badge_count(bob) == 0
    # Alice's own messages are not "read by her".
    assert actions.mark_conversation_read(message.conversation, user=alice) == 0


def test_badge_is_right_after_send_and_read(alice, bob):
    assert unread_badge_count(bob) == 0  # cached as 0
    message = actions.send_message(alice, to=bob, content="ping")
    assert unread_badge_count(bob) == 1
    actions.mark_conversation_read(message.conversation, user=bob)
    assert unread_badge_count(bob) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_lose_no_version(alice, bob):
    """Each thread edits through its own connection; the row lock serialises them."""
    message = actions.send_message(alice, to=bob, content="v0")
    writers = 8 if connection.vendor == "sqlite" else 20
    barrier = threading.Barrier(writers)
    errors = []

    def edit(n):
        try:
            barrier.wait(timeout=10)
            actions.edit_message(Message.objects.get(pk=message.pk), editor=alice, content=f"v{n + 1}")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    message.refresh_from_db()
    history = list(message.history.values_list("old_content", flat=True))
    assert len(history) == writers
    versions = {f"v{n}" for n in range(writers + 1)}
    # Every version but the final one is in the history exactly once.
    assert sorted(history + [message.content]) == sorted(versions)


def test_deleting_an_account_clears_its_unread_messages_from_other_badges(alice, bob):
    actions.send_message(alice, to=bob, content="soon gone")
    assert unread_badge_count(bob) == 1  # cached
    actions.delete_account(alice)
    assert unread_badge_count(bob) == 0
