import pytest
from django.contrib.auth import get_user_model
from messaging.models import UserSession as Session
from django.db import connection
from django.test import Client

from messaging import actions
from messaging.models import Conversation, Message, MessageHistory, Notification

pytestmark = pytest.mark.django_db


def test_new_message_notifies_its_receiver_once(alice, bob):
    message = Message.objects.create(sender=alice, receiver=bob, content="hi")

    notification = Notification.objects.get()
    assert (notification.user, notification.message, notification.kind) == (bob, message, "message")

    message.content = "hi there"
    message.save()
    message.read = True
    message.save()
    assert Notification.objects.count() == 1


def test_reply_notification_says_reply(alice, bob):
    parent = Message.objects.create(sender=alice, receiver=bob, content="q")
    Message.objects.create(sender=bob, receiver=alice, content="a", parent_message=parent)
    assert Notification.objects.get(user=alice).kind == "reply"


def test_history_only_on_a_real_content_change(alice, bob):
    message = Message.objects.create(sender=alice, receiver=bob, content="first")
    assert MessageHistory.objects.count() == 0

    message.read = True
    message.save()  # no content change
    message.content = "first"
    message.save()  # same content
    assert MessageHistory.objects.count() == 0
    assert Message.objects.get(pk=message.pk).edited is False

    message.content = "second"
    message.save()
    history = MessageHistory.objects.get()
    assert (history.old_content, history.edited_by) == ("first", alice)
    assert Message.objects.get(pk=message.pk).edited is True


def test_history_is_recorded_with_update_fields(alice, bob):
    message = Message.objects.create(sender=alice, receiver=bob, content="v1")
    message.content = "v2"
    message.save(update_fields=["content"])
    stored = Message.objects.get(pk=message.pk)
    assert stored.edited is True
    assert list(stored.history.values_list("old_content", flat=True)) == ["v1"]


def test_fixture_loading_raw_saves_record_nothing(alice, bob):
    from messaging import signals

    message = Message.objects.create(sender=alice, receiver=bob, content="v1")
    message.content = "v2"
    signals.message_pre_save(Message, message, raw=True)
    signals.message_post_save(Message, message, created=True, raw=True)
    assert MessageHistory.objects.count() == 0
    assert Notification.objects.count() == 1


def referencing_rows(user_id):
    """Every row in every table with a foreign key to the user table pointing at user_id."""
    User = get_user_model()
    found = {}
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.get_fields():
            if getattr(field, "many_to_one", False) and field.related_model is User and field.concrete:
                count = model._default_manager.filter(**{field.attname: user_id}).count()
                if count:
                    found[f"{model._meta.label}.{field.name}"] = count
    return found


def test_account_deletion_leaves_nothing_of_the_user(alice, bob, carol):
    # Alice in every role: sender, receiver, replier, editor, note-taker, notified.
    to_bob = actions.send_message(alice, to=bob, content="hi bob")
    from_bob = actions.send_message(bob, to=alice, content="hi alice")
    actions.reply_to_message(from_bob, sender=alice, content="reply")
    actions.edit_message(to_bob, editor=alice, content="hi bob!")
    actions.send_message(alice, to=alice, content="note")
    # Bob and Carol's own conversation must stay untouched.
    theirs = actions.send_message(bob, to=carol, content="between us")
    actions.edit_message(theirs, editor=bob, content="between us two")
    before = {
        "messages": list(Message.objects.filter(conversation=theirs.conversation).values_list("pk", "content")),
        "notifications": list(Notification.objects.filter(message=theirs).values_list("pk", flat=True)),
        "history": list(MessageHistory.objects.filter(message=theirs).values_list("pk", flat=True)),
    }
    client = Client()
    client.force_login(alice)
    alice_id = alice.pk

    actions.delete_account(alice)

    assert referencing_rows(alice_id) == {}
    assert not Message.objects.filter(pk__in=[to_bob.pk, from_bob.pk]).exists()
    assert not Conversation.objects.filter(user_low_id=alice_id).exists()
    assert not Conversation.objects.filter(user_high_id=alice_id).exists()
    assert all(
        str(s.get_decoded().get("_auth_user_id")) != str(alice_id) for s in Session.objects.all()
    ), "the deleted user's sessions are removed"
    after = {
        "messages": list(Message.objects.filter(conversation=theirs.conversation).values_list("pk", "content")),
        "notifications": list(Notification.objects.filter(message=theirs).values_list("pk", flat=True)),
        "history": list(MessageHistory.objects.filter(message=theirs).values_list("pk", flat=True)),
    }
    assert after == before
    assert get_user_model().objects.filter(pk__in=[bob.pk, carol.pk]).count() == 2


def test_foreign_keys_hold_after_deletion(alice, bob):
    actions.send_message(alice, to=bob, content="x")
    actions.delete_account(bob)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_key_check")
            assert cursor.fetchall() == []
