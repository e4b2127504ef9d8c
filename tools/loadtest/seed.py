"""Seed the load-test database: people, conversations with history, and a ready session each.

Run by tools/loadtest/run.py with the server's environment:  python -m tools.loadtest.seed OUT.json USERS
Writes go through the actions (signals included), as in production; sessions are
created directly so no password hashing slows the start of the run.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

# Run as a script, not a management command: Django is set up before the models are imported.
import django  # noqa: E402

django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from messaging.sessions import SessionStore  # noqa: E402

from messaging import actions  # noqa: E402
from messaging.models import Conversation, Message  # noqa: E402

PARTNERS_EACH = 2  # each person writes with the next two people: a ring
MESSAGES_PER_CONVERSATION = 12


def main(out: str, count: int) -> None:
    User = get_user_model()
    users = []
    for n in range(count):
        user = User(username=f"load{n:03}")
        user.set_unusable_password()
        user.save()
        users.append(user)
    for n, user in enumerate(users):
        for step in range(1, PARTNERS_EACH + 1):
            other = users[(n + step) % count]
            parent = None
            for i in range(MESSAGES_PER_CONVERSATION):
                sender, receiver = (user, other) if i % 2 == 0 else (other, user)
                if parent is not None and i % 4 == 3:
                    parent = actions.reply_to_message(parent, sender=sender, content=f"Reply {i} from {sender}")
                else:
                    parent = actions.send_message(sender, to=receiver, content=f"Message {i} from {sender} to {receiver}")
                if i == 4:
                    actions.edit_message(parent, editor=sender, content=f"Message {i}, edited")
    people = []
    for user in users:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        conversations = list(Conversation.objects.for_user(user).values("id", "version"))
        mine = Message.objects.filter(conversation__in=[c["id"] for c in conversations])
        people.append(
            {
                "username": user.username,
                "session": session.session_key,
                "conversations": conversations,
                "sent": list(mine.filter(sender=user).values_list("pk", flat=True)),
                "visible": list(mine.values_list("pk", flat=True)),
            }
        )
    Path(out).write_text(json.dumps({"people": people}))
    print(f"seeded {count} people, {Conversation.objects.count()} conversations, {Message.objects.count()} messages")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
