"""Demo users and conversations. Idempotent: running it again changes nothing but the passwords.

Everything is written through the actions, so the signals derive what they always do
(notifications, conversation order, versions, badges); messages are dated with
`sent_at`, which those derived rows follow, and people read their conversations the
way they would, by opening them (mark_conversation_read) before the newest messages arrive.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from messaging import actions
from messaging.models import Message

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

        def send(sender, receiver, content, minutes):
            return actions.send_message(sender, to=receiver, content=content, sent_at=start + timedelta(minutes=minutes))

        def reply(parent, sender, content, minutes):
            return actions.reply_to_message(parent, sender=sender, content=content, sent_at=start + timedelta(minutes=minutes))

        def read(message, *people):
            for person in people:
                actions.mark_conversation_read(message.conversation, user=person)

        # Alice and Bob: a thread four levels deep, an edited message, and two unread for Alice.
        plan = send(alice, bob, "Are we still on for the hike on Saturday?", 0)
        r1 = reply(plan, bob, "Yes! Which trail were you thinking of?", 5)
        r2 = reply(r1, alice, "The ridge loop. About 12 km with a lunch stop at the lake.", 9)
        r3 = reply(r2, bob, "Perfect. Shall I bring the map and the stove?", 14)
        reply(r3, alice, "Map yes, stove no: it's sandwiches this time.", 20)
        reply(plan, bob, "Also, can Carol join us?", 22)
        edited = send(bob, alice, "Meet at the station at 7:00.", 30)
        actions.edit_message(edited, editor=bob, content="Meet at the station at 7:30.")
        actions.edit_message(edited, editor=bob, content="Meet at the station at 7:45, the early train is cancelled.")
        read(plan, alice, bob)
        send(bob, alice, "Don't forget sunscreen ☀️", 40)
        send(bob, alice, "And the tickets are on me this time.", 41)

        # Alice and Carol.
        photos = send(carol, alice, "Hi Alice! Did you get the photos from last week?", 60)
        send(alice, carol, "I did, they're lovely. The one at the lake is my favourite.", 65)
        read(photos, alice, carol)
        send(carol, alice, "Coffee on Thursday?", 120)

        # Bob and Carol.
        invite = send(bob, carol, "Alice says you might come hiking on Saturday?", 90)
        read(invite, carol)
        send(carol, bob, "I'd love to, what time?", 95)

        # A note to self.
        send(alice, alice, "Buy new hiking socks.", 100)
