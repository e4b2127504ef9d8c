"""Seed the live phase: LISTENERS people, each in a conversation with one of SENDERS, and a
ready session each.  python -m tools.loadtest.seed_live OUT.json LISTENERS SENDERS"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402

from messaging import actions  # noqa: E402
from messaging.sessions import SessionStore  # noqa: E402


def session_for(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def main(out: str, listeners: int, senders: int) -> None:
    User = get_user_model()
    people = User.objects.bulk_create(User(username=f"listener{n:04}", password="!") for n in range(listeners))
    writers = User.objects.bulk_create(User(username=f"sender{n:03}", password="!") for n in range(senders))
    data = {"senders": [{"session": session_for(w)} for w in writers], "people": []}
    for n, person in enumerate(people):
        message = actions.send_message(writers[n % senders], to=person, content="hello, listener")
        data["people"].append(
            {"session": session_for(person), "conversation": message.conversation_id, "sender": n % senders}
        )
    Path(out).write_text(json.dumps(data))
    print(f"seeded {listeners} listeners and {senders} senders")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
