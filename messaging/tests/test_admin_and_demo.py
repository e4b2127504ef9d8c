"""The admin (every model, bulk mark read/unread) and the demo data `make run` loads."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from messaging import actions
from messaging.models import Conversation, Message, MessageHistory, Notification
from messaging.unread import unread_badge_count

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def staff_client(client, make_user):
    admin = make_user("admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "model,query",
    [("message", {"q": "bob", "read__exact": "0"}), ("conversation", {"q": "bob"}),
     ("notification", {"q": "bob", "read__exact": "0"}), ("messagehistory", {"q": "findable"})],
)
def test_every_model_has_a_searchable_filterable_changelist(staff_client, alice, bob, model, query):
    message = actions.send_message(alice, to=bob, content="findable words")
    actions.edit_message(message, editor=alice, content="findable words, edited")
    url = reverse(f"admin:messaging_{model}_changelist")
    response = staff_client.get(url, query)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1, model  # search (and filter) find it
    assert staff_client.get(url, {"q": "nobody-by-that-name"}).context["cl"].result_count == 0
    assert staff_client.get(reverse(f"admin:messaging_{model}_change", args=[1])).status_code in (200, 302)


def test_bulk_mark_read_and_unread_moves_the_badge(staff_client, alice, bob):
    messages = [actions.send_message(alice, to=bob, content=f"m{n}") for n in range(3)]
    assert unread_badge_count(bob) == 3
    url = reverse("admin:messaging_message_changelist")
    ids = [str(m.pk) for m in messages[:2]]
    response = staff_client.post(url, {"action": "mark_messages_read", "_selected_action": ids})
    assert response.status_code == 302
    assert Message.unread.unread_count(bob) == 1 and unread_badge_count(bob) == 1
    staff_client.post(url, {"action": "mark_messages_unread", "_selected_action": ids})
    assert Message.unread.unread_count(bob) == 3 and unread_badge_count(bob) == 3


def test_bulk_mark_notifications(staff_client, alice, bob):
    actions.send_message(alice, to=bob, content="hello")
    ids = [str(pk) for pk in Notification.objects.values_list("pk", flat=True)]
    url = reverse("admin:messaging_notification_changelist")
    staff_client.post(url, {"action": "mark_notifications_read", "_selected_action": ids})
    assert not Notification.objects.filter(read=False).exists()
    staff_client.post(url, {"action": "mark_notifications_unread", "_selected_action": ids})
    assert not Notification.objects.filter(read=True).exists()


def snapshot():
    return (
        sorted(User.objects.values_list("username", flat=True)),
        Message.objects.count(),
        Notification.objects.count(),
        MessageHistory.objects.count(),
        Conversation.objects.count(),
    )


def depth_of(message) -> int:
    depth = 0
    while message.parent_message_id:
        message, depth = message.parent_message, depth + 1
    return depth


def test_seed_demo_is_idempotent_and_has_what_the_readme_promises():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = snapshot()
    call_command("seed_demo", stdout=io.StringIO())
    assert snapshot() == first
    assert first[0] == ["alice", "bob", "carol"]
    for name in ("alice", "bob", "carol"):
        assert f"{name}" in out.getvalue() and "demo-pass-2024" in out.getvalue()
        assert User.objects.get(username=name).check_password("demo-pass-2024")
    assert Conversation.objects.count() >= 3
    assert max(depth_of(m) for m in Message.objects.filter(parent_message__isnull=False)) >= 4
    assert any(m.history.count() >= 2 for m in Message.objects.filter(edited=True))
    assert Message.unread.unread_count(User.objects.get(username="alice")) > 0
    # Back-dated messages have notifications of the same time (not "16 seconds ago" for a 2-hour-old message).
    for notification in Notification.objects.filter(kind__in=["message", "reply"]).select_related("message"):
        assert notification.created_at == notification.message.timestamp
