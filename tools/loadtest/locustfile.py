"""Locust users for `make loadtest` (started by tools/loadtest/run.py, which reads the results).

One run, in phases, so every figure comes from the same server and data:

  warm-up       each user fetches its CSRF cookie and badge token, polls its badge and reads the
                conversation its tab has open (so each worker's cache holds it); workers load templates
  bare          everyone requests the hello-world of a bare Django project (tools/loadtest/bare),
                served as the app is, next to it: the yardstick
  ceiling       everyone requests /healthz without pause (no database, no cache)
  badge         everyone polls the unread badge without pause
  conversation  everyone reads the cached message partial of the conversation its tab has open, without pause
  mixed         badge polls, conversation polls and reads, sends, replies and edits, with short pauses

Throughput in a saturating phase divided by the bare app's is the endpoint's share of what
Django itself can serve here; divided by /healthz's, of what our stack (middleware) can.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import defaultdict
from http.cookiejar import Cookie
from itertools import count

from locust import events, task
from locust.contrib.fasthttp import FastHttpUser

DATA = json.loads(open(os.environ["LOADTEST_DATA"]).read())
RESULTS = os.environ["LOADTEST_RESULTS"]
SECONDS = float(os.environ.get("LOADTEST_SECONDS", "60"))
BARE_URL = os.environ["LOADTEST_BARE_URL"]  # the bare Django project's hello-world
HX = {"HX-Request": "true"}


def phase_plan(seconds: float) -> list[tuple[str, float, float]]:
    warm = max(3.0, 0.08 * seconds)
    rest = seconds - warm
    plan, start = [], 0.0
    for name, length in (
        ("warm-up", warm),
        ("bare", 0.12 * rest),
        ("ceiling", 0.12 * rest),
        ("badge", 0.13 * rest),
        ("conversation", 0.13 * rest),
        ("mixed", 0.50 * rest),
    ):
        plan.append((name, start, start + length))
        start += length
    return plan


PHASES = phase_plan(SECONDS)
STARTED_AT: list[float] = []
# (phase, name) -> request records
STATS: dict = defaultdict(lambda: {"latencies": [], "starts": [], "errors": 0, "5xx": 0, "statuses": defaultdict(int)})
people = count()


def phase_at(moment: float) -> str:
    if not STARTED_AT:
        return "warm-up"
    offset = moment - STARTED_AT[0]
    for name, start, end in PHASES:
        if start <= offset < end:
            return name
    return "done"


@events.test_start.add_listener
def on_test_start(**kwargs):
    STARTED_AT.append(time.time())


@events.request.add_listener
def on_request(request_type, name, response_time, response_length, response=None, exception=None, start_time=None,
               **kwargs):
    started = start_time or time.time()
    entry = STATS[(phase_at(started), f"{request_type} {name}")]
    entry["latencies"].append(response_time)
    entry["starts"].append(started - (STARTED_AT[0] if STARTED_AT else started))
    status = getattr(response, "status_code", 0) or 0
    entry["statuses"][str(status)] += 1
    if exception is not None:
        entry["errors"] += 1
    if status >= 500:
        entry["5xx"] += 1


@events.test_stop.add_listener
def on_test_stop(**kwargs):
    rows = [{"phase": phase, "name": name, **values} for (phase, name), values in STATS.items()]
    with open(RESULTS, "w") as out:
        json.dump({"started_at": STARTED_AT[0] if STARTED_AT else None, "phases": PHASES, "rows": rows}, out)


def cookie(name: str, value: str) -> Cookie:
    return Cookie(
        version=0, name=name, value=value, port=None, port_specified=False, domain="127.0.0.1",
        domain_specified=False, domain_initial_dot=False, path="/", path_specified=True, secure=False,
        expires=None, discard=True, comment=None, comment_url=None, rest={}, rfc2109=False,
    )


MESSAGE_ID = re.compile(rb'id="message-(\d+)"')
BADGE_TOKEN = re.compile(rb'"X-Badge-Token": "([^"]+)"')
SYNC = re.compile(rb"since=(\d+)&amp;v=(\d+)")


class Person(FastHttpUser):
    """One of the seeded people, logged in through a session made by the seed script."""

    def on_start(self):
        self.me = DATA["people"][next(people) % len(DATA["people"])]
        self.client.cookiejar.set_cookie(cookie("sessionid", self.me["session"]))
        # Any page with a form sets the CSRF cookie; POSTs send it back in X-CSRFToken.
        page = self.client.get("/compose/", name="/compose/ (setup)")
        tokens = [c.value for c in self.client.cookiejar if c.name == "csrftoken"]
        self.csrf = tokens[0] if tokens else ""
        self.badge_token = self.token_in(page.content)
        self.versions = {c["id"]: c["version"] for c in self.me["conversations"]}
        self.open_conversation = self.me["conversations"][0]["id"]
        self.sent = list(self.me["sent"])
        self.visible = list(self.me["visible"])

    def wait_time(self):
        return random.uniform(0.1, 0.6) if phase_at(time.time()) == "mixed" else 0

    @task
    def step(self):
        phase = phase_at(time.time())
        if phase == "bare":
            self.client.get(BARE_URL, name="bare Django: hello world")
        elif phase == "ceiling":
            self.client.get("/healthz", name="/healthz")
        elif phase == "badge":
            self.badge()
        elif phase == "conversation":
            self.read_conversation(self.open_conversation)
        elif phase == "mixed":
            random.choices(
                (self.badge, self.read_conversation, self.poll_conversation, self.send, self.reply, self.edit),
                weights=(35, 25, 15, 10, 8, 7),
            )[0]()
        elif phase == "warm-up":
            random.choice((self.badge, lambda: self.read_conversation(self.open_conversation)))()
        else:
            time.sleep(0.2)

    # --- What a browser tab does -----------------------------------------------------------

    @staticmethod
    def token_in(html: bytes | None) -> str:
        match = BADGE_TOKEN.search(html or b"")
        return match.group(1).decode() if match else ""

    def badge(self):
        # As the page's badge does: with the token the page gave it (a new one comes back when it expired).
        response = self.client.get("/unread-badge/", headers={**HX, "X-Badge-Token": self.badge_token},
                                   name="/unread-badge/")
        self.badge_token = self.token_in(response.content) or self.badge_token

    def read_conversation(self, conversation_id=None):
        conversation_id = conversation_id or random.choice(list(self.versions))
        self.client.get(
            f"/conversations/{conversation_id}/messages/?v={self.versions[conversation_id]}",
            headers=HX, name="/conversations/[id]/messages/?v= (cached)",
        )

    def poll_conversation(self):
        conversation_id = random.choice(list(self.versions))
        response = self.client.get(
            f"/conversations/{conversation_id}/poll/?v={self.versions[conversation_id]}",
            headers=HX, name="/conversations/[id]/poll/",
        )
        match = SYNC.search(response.content or b"") if response.status_code == 200 else None
        if match:
            since, version = match.groups()
            self.client.get(
                f"/conversations/{conversation_id}/messages/?since={since}&v={version}",
                headers=HX, name="/conversations/[id]/messages/?since= (changes)",
            )
            self.versions[conversation_id] = int(version)

    def post(self, url, content, name):
        return self.client.post(
            url, data={"content": content, "base": ""}, headers={**HX, "X-CSRFToken": self.csrf}, name=name
        )

    def remember_new_message(self, response):
        """The message a send or reply returned becomes one this person may reply to and edit."""
        match = MESSAGE_ID.search(response.content or b"")
        if match:
            self.sent.append(int(match.group(1)))
            self.visible.append(int(match.group(1)))

    def send(self):
        conversation_id = random.choice(list(self.versions))
        response = self.post(f"/conversations/{conversation_id}/", f"Load test message {time.time():.3f}",
                             "/conversations/[id]/ (send)")
        self.remember_new_message(response)

    def reply(self):
        parent = random.choice(self.visible[-40:])
        response = self.post(f"/messages/{parent}/reply/", f"Load test reply {time.time():.3f}",
                             "/messages/[id]/reply/")
        self.remember_new_message(response)

    def edit(self):
        message_id = random.choice(self.sent[-20:])
        self.post(f"/messages/{message_id}/edit/", f"Edited during the load test {time.time():.3f}",
                  "/messages/[id]/edit/")
