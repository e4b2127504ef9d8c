"""Demo users and conversations. Idempotent: running it again changes nothing but the passwords."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from messaging import actions
from messaging.models import Conversation, Message, Notification
from messaging.unread import forget_badges

DEMO_PASSWORD = "demo-pass-2024"
DEMO_USERS = ("alice", "bob", "carol")


class Command(BaseCommand):
    help = "Create three demo users with conversations, a deep thread, an edited message and unread messages."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        users = {}
        for name in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=name)
            user.set_password(DEMO_PASSWORD)
            user.save()
            users[name] = user
        alice, bob, carol = users["alice"], users["bob"], users["carol"]

        if Message.objects.filter(sender=alice).exists():
            self.stdout.write("Demo conversations already exist.")
        else:
            self._seed(alice, bob, carol)
            self.stdout.write(self.style.SUCCESS("Demo conversations created."))

        self.stdout.write("\nDemo logins (username / password):")
        for name in DEMO_USERS:
            self.stdout.write(f"  {name:<6} / {DEMO_PASSWORD}")

    def _seed(self, alice, bob, carol):
        start = timezone.now() - timedelta(hours=3)

        def at(minutes):
            return start + timedelta(minutes=minutes)

        def send(sender, receiver, content, minutes, read=True):
            message = actions.send_message(sender, to=receiver, content=content)
            Message.objects.filter(pk=message.pk).update(timestamp=at(minutes), read=read or sender == receiver)
            message.refresh_from_db()
            return message

        def reply(parent, sender, content, minutes, read=True):
            message = actions.reply_to_message(parent, sender=sender, content=content)
            Message.objects.filter(pk=message.pk).update(timestamp=at(minutes), read=read)
            message.refresh_from_db()
            return message

        # Alice and Bob: a thread four levels deep and an edited message.
        plan = send(alice, bob, "Are we still on for the hike on Saturday?", 0)
        r1 = reply(plan, bob, "Yes! Which trail were you thinking of?", 5)
        r2 = reply(r1, alice, "The ridge loop. About 12 km with a lunch stop at the lake.", 9)
        r3 = reply(r2, bob, "Perfect. Shall I bring the map and the stove?", 14)
        reply(r3, alice, "Map yes, stove no: it's sandwiches this time.", 20)
        reply(plan, bob, "Also, can Carol join us?", 22)
        edited = send(bob, alice, "Meet at the station at 7:00.", 30)
        actions.edit_message(edited, editor=bob, content="Meet at the station at 7:30.")
        actions.edit_message(
            Message.objects.get(pk=edited.pk), editor=bob, content="Meet at the station at 7:45, the early train is cancelled."
        )
        send(bob, alice, "Don't forget sunscreen ☀️", 40, read=False)
        send(bob, alice, "And the tickets are on me this time.", 41, read=False)

        # Alice and Carol.
        send(carol, alice, "Hi Alice! Did you get the photos from last week?", 60)
        send(alice, carol, "I did, they're lovely. The one at the lake is my favourite.", 65)
        send(carol, alice, "Coffee on Thursday?", 120, read=False)

        # Bob and Carol.
        send(bob, carol, "Alice says you might come hiking on Saturday?", 90)
        send(carol, bob, "I'd love to, what time?", 95, read=False)

        # A note to self.
        send(alice, alice, "Buy new hiking socks.", 100)

        # The demo back-dates its messages: conversations, notifications and
        # badges follow the dates and read flags set above.
        for conversation in Conversation.objects.filter(messages__sender__in=[alice, bob, carol]).distinct():
            latest = conversation.messages.order_by("-timestamp").first()
            Conversation.objects.filter(pk=conversation.pk).update(last_message_at=latest.timestamp)
        Notification.objects.filter(message__read=True).update(read=True)
        Notification.objects.filter(user__in=[alice, bob, carol]).update(
            created_at=Subquery(Message.objects.filter(pk=OuterRef("message_id")).values("timestamp")[:1])
        )
        forget_badges(alice.pk, bob.pk, carol.pk)
