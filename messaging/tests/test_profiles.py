"""Profiles (one per user), presence (online / last seen, privacy), read receipts and the
notification kinds, the Settings section, the admin and the API's view of them."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from messaging import actions, presence
from messaging.models import Conversation, Message, Notification, Profile

from .conftest import HX, api_client
from .security_helpers import run_threads

pytestmark = pytest.mark.django_db
User = get_user_model()


class Clock:
    """presence goes by presence.now(); the tests move it (the cache keeps its own time)."""

    def __init__(self, monkeypatch):
        self.now = time.time()
        monkeypatch.setattr(presence, "now", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def header_presence(client, conversation) -> str:
    html = client.get(reverse("messaging:conversation-presence", args=[conversation.pk]), headers=HX).content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# --- One profile per user ---------------------------------------------------------------------


def test_every_new_user_gets_one_profile(make_user):
    user = make_user("dora")
    assert Profile.objects.filter(user=user).count() == 1
    profile = user.profile
    assert (profile.display_name, profile.time_zone, profile.show_online, profile.notify_online) == ("", "", True, False)
    user.first_name = "D"
    user.save()  # not created: nothing more
    assert actions.create_profile(user) == profile
    assert Profile.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_leave_one_profile(make_user):
    user = make_user("dora")
    Profile.objects.filter(user=user).delete()
    count = 8 if connection.vendor == "sqlite" else 20
    results, errors = run_threads(count, lambda n: actions.create_profile(user).pk)
    assert errors == [None] * count
    assert set(results) == {user.pk}
    assert Profile.objects.filter(user=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_users_one_profile():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("messaging", "0003_message_deleted_at")])
    old = executor.loader.project_state([("messaging", "0003_message_deleted_at")]).apps
    OldUser = old.get_model("auth", "User")
    OldMessage = old.get_model("messaging", "Message")
    OldConversation = old.get_model("messaging", "Conversation")
    OldNotification = old.get_model("messaging", "Notification")
    a, b = OldUser.objects.create(username="old-a"), OldUser.objects.create(username="old-b")
    conversation = OldConversation.objects.create(user_low_id=a.pk, user_high_id=b.pk)
    message = OldMessage.objects.create(conversation=conversation, sender=a, receiver=b, content="hi")
    OldNotification.objects.create(user=b, message=message)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert sorted(Profile.objects.values_list("user__username", flat=True)) == ["old-a", "old-b"]
    notification = Notification.objects.get()
    assert (notification.actor_id, notification.conversation_id) == (a.pk, conversation.pk)


# --- Presence ---------------------------------------------------------------------------------


def test_a_heartbeat_makes_you_online_then_last_seen(alice, bob, alice_client, message, clock, settings):
    conversation = message.conversation
    assert header_presence(alice_client, conversation) == ""  # never seen
    presence.heartbeat(bob.pk)  # bob's tab polls its badge
    assert header_presence(alice_client, conversation) == "online"
    clock.advance(settings.PRESENCE_ONLINE_SECONDS + 1)  # the tab closed: nothing more comes
    assert header_presence(alice_client, conversation).startswith("last seen")
    presence.heartbeat(bob.pk)
    assert header_presence(alice_client, conversation) == "online"


def test_an_open_stream_is_online_whatever_the_last_beat(alice, bob, alice_client, message, clock, settings):
    presence.heartbeat(bob.pk)
    cache.set(presence.streams_key(bob.pk), 1)
    clock.advance(settings.PRESENCE_ONLINE_SECONDS * 3)
    assert header_presence(alice_client, message.conversation) == "online"
    cache.set(presence.streams_key(bob.pk), 0)
    assert header_presence(alice_client, message.conversation).startswith("last seen")


def test_the_database_is_written_at_most_once_a_minute(bob, clock):
    writes = []
    with CaptureQueriesContext(connection) as queries:
        for _ in range(6):  # a minute of badge polls, every 10 s
            writes.append(presence.heartbeat(bob.pk))
            clock.advance(10)
    assert writes == [True, False, False, False, False, False]
    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 1
    assert presence.heartbeat(bob.pk) is True  # a minute on
    bob.profile.refresh_from_db()
    assert bob.profile.last_seen.timestamp() == pytest.approx(clock.now)


def test_polls_in_quick_succession_write_the_cache_once_and_keep_you_online(alice, bob, alice_client, message, clock, settings):
    conversation = message.conversation
    presence.heartbeat(bob.pk)
    with patch.object(presence.cache, "set", wraps=presence.cache.set) as writes:
        for _ in range(5):  # five tabs, or polls without pause, within the beat window
            clock.advance(settings.PRESENCE_BEAT_SECONDS / 6)
            presence.heartbeat(bob.pk)
        assert writes.call_count == 0
        clock.advance(settings.PRESENCE_BEAT_SECONDS)
        presence.heartbeat(bob.pk)  # the window has passed: this beat is recorded
        assert writes.call_count == 1
    # Seen up to a beat window ago still counts in full: online until the online window ends.
    clock.advance(settings.PRESENCE_ONLINE_SECONDS - 1)
    assert header_presence(alice_client, conversation) == "online"
    clock.advance(2)
    assert header_presence(alice_client, conversation).startswith("last seen")


def test_the_conditional_update_writes_once_for_racing_tabs(bob):
    at = datetime.now(UTC)
    assert actions.record_presence(bob.pk, at=at) is True  # came online
    assert actions.record_presence(bob.pk, at=at + timedelta(seconds=5)) is False
    bob.profile.refresh_from_db()
    assert bob.profile.last_seen == at  # the second beat, under a minute later, wrote nothing


def test_the_badge_poll_is_the_heartbeat_and_its_hit_stays_free(bob, bob_client, message, django_assert_num_queries):
    from .test_views import badge_token_of

    headers = {**HX, "X-Badge-Token": badge_token_of(bob_client)}
    bob_client.get(reverse("messaging:unread-badge"), headers=headers)  # counts, and writes last_seen once
    assert Profile.objects.get(user=bob).last_seen is not None
    with django_assert_num_queries(0):
        bob_client.get(reverse("messaging:unread-badge"), headers=headers)


def test_an_ordinary_page_writes_no_presence(bob, bob_client, message):
    bob_client.get(reverse("messaging:inbox"))
    bob_client.get(message.conversation.get_absolute_url())
    assert Profile.objects.get(user=bob).last_seen is None


def test_the_inbox_rows_say_who_is_online(alice, bob, alice_client, message):
    presence.heartbeat(bob.pk)
    html = alice_client.get(reverse("messaging:inbox")).content.decode()
    assert 'data-testid="presence"' in html and ">online<" in html.replace("</span>online", ">online")


def hide(user):
    actions.update_profile(user, display_name="", time_zone="", show_online=False, notify_online=False)


@pytest.mark.parametrize("hidden", ["bob", "alice"])
def test_the_privacy_switch_hides_presence_everywhere(alice, bob, alice_client, message, hidden, token_for):
    """Bob hides his: nobody sees it. Alice hides hers: she sees nobody's (it goes both ways)."""
    presence.heartbeat(bob.pk)
    hide({"alice": alice, "bob": bob}[hidden])
    conversation = message.conversation
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    inbox = alice_client.get(reverse("messaging:inbox")).content.decode()
    inbox_fragment = alice_client.get(reverse("messaging:inbox"), headers=HX).content.decode()
    for html in (page, inbox, inbox_fragment, header_presence(alice_client, conversation)):
        assert 'data-testid="presence"' not in html and "online" not in html.replace("Show when I'm online", "")
        assert "last seen" not in html
    data = api_client(token_for(alice)).get(reverse("api:conversation-list")).json()
    assert data["results"][0]["partner_presence"] is None


def test_the_api_says_presence_and_display_name(alice, bob, message, token_for):
    presence.heartbeat(bob.pk)
    actions.update_profile(bob, display_name="Bobby", time_zone="", show_online=True, notify_online=False)
    row = api_client(token_for(alice)).get(reverse("api:conversation-list")).json()["results"][0]
    assert row["partner"] == "bob" and row["partner_display_name"] == "Bobby"
    assert row["partner_presence"]["online"] is True and row["partner_presence"]["last_seen"]
    me = api_client(token_for(bob)).get(reverse("api:me")).json()
    assert me["display_name"] == "Bobby" and me["show_online"] is True


# --- Display names ----------------------------------------------------------------------------


def test_a_display_name_shows_with_the_username_beside_it(alice, bob, alice_client, message):
    actions.update_profile(bob, display_name="Bob  Builder", time_zone="", show_online=True, notify_online=False)
    page = alice_client.get(message.conversation.get_absolute_url()).content.decode()
    assert re.search(r"Conversation with Bob Builder <span[^>]*username[^>]*>@bob</span>", page)
    inbox = alice_client.get(reverse("messaging:inbox")).content.decode()
    assert "Bob Builder" in inbox and "@bob" in inbox


def test_a_display_name_is_escaped(alice, bob, alice_client, message):
    actions.update_profile(bob, display_name="<b>x</b>", time_zone="", show_online=True, notify_online=False)
    page = alice_client.get(message.conversation.get_absolute_url()).content.decode()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


@pytest.mark.parametrize("conversations", [2, 12])
def test_display_names_cost_no_query_per_row(bob, bob_client, make_user, conversations, django_assert_max_num_queries):
    for n in range(conversations):
        other = make_user(f"friend{n}")
        actions.update_profile(other, display_name=f"Friend {n}", time_zone="", show_online=True, notify_online=False)
        presence.heartbeat(other.pk)
        actions.send_message(other, to=bob, content="hi")
    bob_client.get(reverse("messaging:unread-badge"), headers=HX)
    with django_assert_max_num_queries(5):  # session, user + profile, unread page, conversations page, last messages
        html = bob_client.get(reverse("messaging:inbox")).content.decode()
    assert html.count("Friend ") >= conversations


# --- Settings -----------------------------------------------------------------------------------


def profile_post(**overrides):
    return {"display_name": "Alice A", "time_zone": "Europe/Paris", "show_online": "on", **overrides}


def test_settings_saves_the_profile_with_a_plain_post(alice, alice_client):
    response = alice_client.post(reverse("messaging:profile-settings"), profile_post())
    assert response.status_code == 302 and response["Location"].endswith("/settings/#profile-settings")
    profile = Profile.objects.get(user=alice)
    assert (profile.display_name, profile.time_zone, profile.show_online, profile.notify_online) == (
        "Alice A", "Europe/Paris", True, False,
    )
    assert response.cookies["tz"].value == "Europe/Paris"  # the profile's zone wins over the browser's
    assert b"Alice A" in alice_client.get(reverse("messaging:settings")).content


def test_settings_with_htmx_answers_the_section(alice, alice_client):
    response = alice_client.post(reverse("messaging:profile-settings"), profile_post(), headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="profile-settings"' in html
    assert "Your profile was saved" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_a_wrong_time_zone_is_a_422_that_keeps_what_was_typed(alice, alice_client, htmx):
    response = alice_client.post(
        reverse("messaging:profile-settings"), profile_post(time_zone="Mars/Olympus"), headers=HX if htmx else {}
    )
    html = response.content.decode()
    assert response.status_code == 422 and ("<html" in html) != htmx
    assert 'value="Alice A"' in html and "Select a valid choice" in html
    assert Profile.objects.get(user=alice).time_zone == ""


def test_the_profile_zone_wins_over_the_cookie(alice, bob, alice_client, message):
    actions.update_profile(alice, display_name="", time_zone="Asia/Tokyo", show_online=True, notify_online=False)
    alice_client.cookies["tz"] = "America/New_York"
    html = alice_client.get(reverse("messaging:inbox")).content.decode()
    assert 'data-profile-tz="Asia/Tokyo"' in html  # app.js sets the cookie to it


def test_first_sign_in_takes_the_browser_zone_and_keeps_it(alice):
    client = Client()
    client.cookies["tz"] = "Europe/Berlin"
    client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests-123"})
    assert Profile.objects.get(user=alice).time_zone == "Europe/Berlin"
    other = Client()
    other.cookies["tz"] = "Asia/Tokyo"
    response = other.post(reverse("login"), {"username": "alice", "password": "pw-for-tests-123"})
    assert Profile.objects.get(user=alice).time_zone == "Europe/Berlin"
    assert response.cookies["tz"].value == "Europe/Berlin"


# --- Read receipts ------------------------------------------------------------------------------


def read_notifications(user):
    return Notification.objects.filter(user=user, kind=Notification.Kind.READ)


def test_twenty_messages_read_at_once_leave_one_read_notification(alice, bob, bob_client):
    for n in range(20):
        actions.send_message(alice, to=bob, content=f"m{n}")
    conversation = Conversation.objects.between(alice, bob).get()
    bob_client.get(conversation.get_absolute_url())
    receipt = read_notifications(alice).get()
    assert (receipt.actor_id, receipt.conversation_id, receipt.read) == (bob.pk, conversation.pk, False)
    assert receipt.message.content == "m19"  # the newest read
    # Read again later: the same notification, moved up and unread again.
    actions.mark_notifications_read(alice)
    newer = actions.send_message(alice, to=bob, content="later")
    bob_client.get(conversation.get_absolute_url())
    again = read_notifications(alice).get()
    assert again.pk == receipt.pk and not again.read and again.created_at > receipt.created_at
    assert again.message_id == newer.pk
    # Opening a conversation with nothing new tells nobody anything.
    bob_client.get(conversation.get_absolute_url())
    assert read_notifications(alice).get().created_at == again.created_at
    assert not read_notifications(bob).exists()


def test_reading_through_notifications_sends_the_receipt_too(alice, bob, carol):
    actions.send_message(alice, to=bob, content="from alice")
    actions.send_message(carol, to=bob, content="from carol")
    actions.mark_notifications_read(bob)
    assert read_notifications(alice).count() == 1 and read_notifications(carol).count() == 1


def test_a_read_receipt_does_not_count_on_the_badge(alice, bob, message, bob_client):
    from messaging.unread import unread_counts

    actions.mark_conversation_read(message.conversation, user=bob)
    counts = unread_counts(alice)
    assert counts.messages == 0 and counts.notifications == 1
    actions.mark_notifications_read(alice)
    assert unread_counts(alice).notifications == 0


@pytest.mark.django_db(transaction=True)
def test_two_tabs_reading_at_once_leave_one_read_notification(alice, bob):
    for n in range(20):
        actions.send_message(alice, to=bob, content=f"m{n}")
    conversation = Conversation.objects.between(alice, bob).get()
    count = 2 if connection.vendor == "sqlite" else 8

    results, errors = run_threads(count, lambda n: actions.mark_conversation_read(conversation, user=bob))
    assert errors == [None] * count
    assert sum(results) == 20
    assert read_notifications(alice).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_receipts_for_one_conversation_are_one_row(alice, bob):
    """The constraint and update_or_create, without the people's locks serialising them."""
    message = actions.send_message(alice, to=bob, content="hi")
    count = 2 if connection.vendor == "sqlite" else 10

    def receipt(n):
        from django.db import transaction

        with transaction.atomic():
            return actions.notify_read(message.conversation_id, reader_id=bob.pk, sender_id=alice.pk, newest_id=message.pk).pk

    results, errors = run_threads(count, receipt)
    assert errors == [None] * count
    assert len(set(results)) == 1 and read_notifications(alice).count() == 1


# --- Came online ----------------------------------------------------------------------------------


def wants_online(user):
    actions.update_profile(user, display_name="", time_zone="", show_online=True, notify_online=True)


def test_came_online_is_opt_in_and_at_most_hourly(alice, bob, carol, clock):
    actions.send_message(alice, to=bob, content="hi bob")  # alice writes to bob
    actions.send_message(bob, to=carol, content="hi carol")  # carol does not write to bob
    wants_online(alice)
    wants_online(carol)
    presence.heartbeat(bob.pk)
    online = Notification.objects.filter(kind=Notification.Kind.ONLINE)
    assert list(online.values_list("user__username", "actor__username")) == [("alice", "bob")]
    first = online.get()
    # Offline a while, back within the hour: nothing new.
    clock.advance(600)
    presence.heartbeat(bob.pk)
    assert online.get().created_at == first.created_at
    # Back after more than an hour: the same one, moved up.
    clock.advance(3600)
    presence.heartbeat(bob.pk)
    again = online.get()
    assert again.pk == first.pk and again.created_at > first.created_at


def test_no_came_online_from_someone_who_hides_it(alice, bob):
    actions.send_message(alice, to=bob, content="hi bob")
    wants_online(alice)
    hide(bob)
    presence.heartbeat(bob.pk)
    assert not Notification.objects.filter(kind=Notification.Kind.ONLINE).exists()


# --- The notifications page ---------------------------------------------------------------------


def test_the_notifications_page_filters_by_kind(alice, bob, bob_client, alice_client):
    message = actions.send_message(alice, to=bob, content="<script>x</script> hello " + "y" * 200)
    actions.reply_to_message(message, sender=alice, content="a reply")
    actions.mark_conversation_read(message.conversation, user=bob)  # alice gets a "read"
    url = reverse("messaging:notifications")
    html = bob_client.get(url).content.decode()
    assert "New message from alice" in html and "New reply from alice" in html
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html and "y" * 150 not in html
    only_replies = bob_client.get(url, {"kind": "reply"}).content.decode()
    assert "New reply from alice" in only_replies and "New message from alice" not in only_replies
    assert 'aria-current="page">New reply<' in only_replies
    read = alice_client.get(url, {"kind": "read"}, headers=HX).content.decode()
    assert "<html" not in read and "bob read your messages" in read and "?kind=read" in read
    assert "Nothing" not in alice_client.get(url, {"kind": "bogus"}).content.decode()  # all


def test_the_kind_survives_load_more(alice, bob, bob_client):
    for n in range(60):
        actions.send_message(alice, to=bob, content=f"n{n}")
    html = bob_client.get(reverse("messaging:notifications"), {"kind": "message"}).content.decode()
    assert "?kind=message&amp;after=" in html


# --- Admin ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("people", [3, 15])
def test_the_profile_admin_costs_no_query_per_row(admin_client, make_user, people, django_assert_max_num_queries):
    others = [make_user(f"p{n}") for n in range(people)]
    for n, person in enumerate(others[1:]):
        actions.send_message(person, to=others[0], content=f"m{n}")
        presence.heartbeat(person.pk)
    admin_client.get(reverse("admin:messaging_profile_changelist"))
    # session, user, count, count (filtered), the page (profiles, users, counts), and the admin's own few
    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse("admin:messaging_profile_changelist"))
    assert response.status_code == 200
    assert response.content.decode().count('alt="True"') >= people - 1  # online


def test_the_admin_bulk_actions(admin_client, alice, bob, message):
    url = reverse("admin:messaging_profile_changelist")
    admin_client.post(url, {"action": "hide_online", "_selected_action": [alice.pk, bob.pk]})
    assert not Profile.objects.filter(show_online=True, user__in=[alice, bob]).exists()
    admin_client.post(url, {"action": "mark_all_notifications_read", "_selected_action": [bob.pk]})
    assert not Notification.objects.filter(user=bob, read=False).exists()
    assert Message.objects.get(pk=message.pk).read  # as mark all read does: the badge agrees


def test_deleting_the_newest_read_message_keeps_the_receipt_without_its_text(alice, bob, bob_client):
    message = actions.send_message(alice, to=bob, content="soon gone")
    actions.mark_conversation_read(message.conversation, user=bob)
    actions.delete_message(message, by=alice)
    receipt = read_notifications(alice).get()
    assert receipt.message_id is None
    html = Client()
    html.force_login(alice)
    page = html.get(reverse("messaging:notifications")).content.decode()
    assert "bob read your messages" in page and "soon gone" not in page


def test_opening_the_stream_is_online_and_closing_it_leaves_last_seen(
    alice, bob, bob_client, alice_client, message, clock, settings, monkeypatch
):
    from asgiref.sync import async_to_sync

    from .test_live import read_stream

    settings.REDIS_URL = ""  # the in-process hub (pytest-django puts it back)
    response, consume = read_stream(bob_client, until=lambda text: "hello" in text)
    assert header_presence(alice_client, message.conversation) == "online"  # a tab opened
    clock.advance(settings.PRESENCE_ONLINE_SECONDS * 2)
    assert header_presence(alice_client, message.conversation) == "online"  # still open
    async_to_sync(consume)()  # read its first frame, then the tab closes
    assert cache.get(presence.streams_key(bob.pk)) == 0
    assert header_presence(alice_client, message.conversation).startswith("last seen")


@pytest.mark.parametrize("name", ["a\x00b", "x" * 51])
def test_a_display_name_the_database_would_refuse_is_a_422(alice, alice_client, name):
    response = alice_client.post(reverse("messaging:profile-settings"), profile_post(display_name=name), headers=HX)
    assert response.status_code == 422
    assert Profile.objects.get(user=alice).display_name == ""


@pytest.mark.parametrize("htmx", [False, True])
def test_mark_all_read_under_a_kind_marks_that_kind(alice, bob, alice_client, htmx):
    message = actions.send_message(bob, to=alice, content="to alice")
    actions.send_message(alice, to=bob, content="to bob")
    actions.mark_conversation_read(message.conversation, user=bob)  # alice: a "read"
    url = reverse("messaging:notifications-read-all") + "?kind=read"
    response = alice_client.post(url, headers=HX if htmx else {})
    if htmx:
        assert response.status_code == 200 and "<html" not in response.content.decode()
    else:
        assert response.status_code == 302 and response["Location"].endswith("/notifications/?kind=read")
    assert not read_notifications(alice).filter(read=False).exists()
    assert Notification.objects.filter(user=alice, kind="message", read=False).exists()  # untouched
