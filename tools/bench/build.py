"""Building the bench's data: users, conversations and messages written with bulk_create and explicit ids.

No signal runs while building; the fields the signals would fill (conversation,
version, changed_version, last_message_at) are set by hand.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from datetime import timedelta
from itertools import count

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.utils import timezone

from messaging.models import Conversation, Message

User = get_user_model()
BATCH = 10_000
MAX_THREAD_DEPTH = 50


class Progress:
    """One progress line on stderr: redrawn in place on a terminal, every 10% otherwise."""

    def __init__(self, stream, label: str, total: int):
        self.stream, self.label, self.total = stream, label, max(total, 1)
        self.done = 0
        self.started = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.next_line_at = 0.1

    def advance(self, n: int) -> None:
        self.done += n
        fraction = min(self.done / self.total, 1.0)
        if self.tty:
            bar = "#" * int(fraction * 30)
            self.stream.write(
                f"\r  {self.label:<34} [{bar:<30}] {self.done:>9,}/{self.total:,} "
                f"{time.perf_counter() - self.started:6.1f}s"
            )
            self.stream.flush()
        elif fraction >= self.next_line_at or self.done >= self.total:
            self.stream.write(
                f"  {self.label}: {self.done:,}/{self.total:,} ({fraction:.0%}) "
                f"{time.perf_counter() - self.started:.1f}s\n"
            )
            self.stream.flush()
            while self.next_line_at <= fraction:
                self.next_line_at += 0.1

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.started
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
        return elapsed



@contextmanager
def fast_build(conn):
    """SQLite: no fsync and a big page cache while bulk loading; WAL again for measuring."""
    if conn.vendor != "sqlite":
        yield
        return
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=MEMORY")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-400000")
        cursor.execute("PRAGMA temp_store=MEMORY")
    try:
        yield
    finally:
        with conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA cache_size=-2000")



class Builder:
    """Writes users, conversations and messages with bulk_create and explicit ids."""

    def __init__(self, conn, *, seed: int, stream):
        self.conn = conn
        self.rng = random.Random(seed)
        self.stream = stream
        self.password = make_password(None)
        self.now = timezone.now()
        self.year_ago = self.now - timedelta(days=365)
        self.user_ids = count(1)
        self.conversation_ids = count(1)
        self.message_ids = count(1)
        self.message_total = 0
        # conversation id -> [low, high, version, last_message_at, last message id]
        self.conversations: dict[int, list] = {}
        self.sentences = [self._sentence() for _ in range(2000)]

    def _sentence(self) -> str:
        words = "hi there lunch tomorrow the plan sounds good see you at station train map photo coffee " \
                "thursday ok thanks sure later weekend trip ticket call me when you can".split()
        return " ".join(self.rng.choice(words) for _ in range(self.rng.randint(3, 30))).capitalize() + "."

    def users(self, prefix: str, n: int) -> list[int]:
        ids = [next(self.user_ids) for _ in range(n)]
        User.objects.bulk_create(
            [User(id=pk, username=f"{prefix}{pk}", password=self.password, date_joined=self.now) for pk in ids],
            batch_size=1000,
        )
        return ids

    def conversations_between(self, pairs) -> list[int]:
        rows = []
        for a, b in pairs:
            pk = next(self.conversation_ids)
            low, high = sorted((a, b))
            self.conversations[pk] = [low, high, 0, None, None]
            rows.append(Conversation(id=pk, user_low_id=low, user_high_id=high))
        Conversation.objects.bulk_create(rows, batch_size=1000)
        return [row.id for row in rows]

    def messages(self, rows, *, label: str) -> list[int]:
        """rows: (conversation_id, sender_id, receiver_id, timestamp, read, parent_id or "last" or None).

        A parent of "last" means "the previous message of that conversation" (a reply).
        """
        progress = Progress(self.stream, label, len(rows))
        ids, batch = [], []
        for conversation_id, sender_id, receiver_id, timestamp, read, parent in rows:
            state = self.conversations[conversation_id]
            pk = next(self.message_ids)
            state[2] += 1
            if parent == "last":
                parent = state[4]
            if state[3] is None or timestamp > state[3]:
                state[3] = timestamp
            state[4] = pk
            if not read and sender_id != receiver_id:
                if len(state) < 6:
                    state.append({})
                state[5][receiver_id] = state[5].get(receiver_id, 0) + 1
            batch.append(
                Message(
                    id=pk,
                    conversation_id=conversation_id,
                    sender_id=sender_id,
                    receiver_id=receiver_id,
                    content=self.rng.choice(self.sentences),
                    timestamp=timestamp,
                    read=read,
                    parent_message_id=parent,
                    changed_version=state[2],
                )
            )
            ids.append(pk)
            if len(batch) >= BATCH:
                Message.objects.bulk_create(batch)
                progress.advance(len(batch))
                batch = []
        if batch:
            Message.objects.bulk_create(batch)
            progress.advance(len(batch))
        progress.finish()
        self.message_total += len(rows)
        return ids

    def save_conversation_state(self, conversation_ids) -> None:
        """What the actions would have stamped: version, last_message_at, and the kept unread
        counts (no notifications are built, so those counts stay 0)."""
        rows = []
        for pk in conversation_ids:
            low, high, version, last, _, *unread = self.conversations[pk]
            unread = unread[0] if unread else {}
            rows.append(Conversation(id=pk, version=version, last_message_at=last,
                                     unread_low=unread.get(low, 0), unread_high=unread.get(high, 0) if high != low else 0))
        Conversation.objects.bulk_update(rows, ["version", "last_message_at", "unread_low", "unread_high"], batch_size=500)

    def finish_step(self) -> None:
        """Sequences past the explicit ids; statistics (SQLite ANALYZE; on PostgreSQL the
        VACUUM ANALYZE autovacuum would soon make anyway, and a checkpoint that writes out the
        new rows), done now so they don't run (and compete for CPU and disk) while we measure.
        On SQLite, the search index merged too."""
        statements = self.conn.ops.sequence_reset_sql(no_style(), [User, Conversation, Message])
        with self.conn.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
            # Statistics, as any long-lived database has them: the plans measured are the
            # plans production gets (issue 16: without them SQLite chose a better index).
            if self.conn.vendor == "postgresql":
                cursor.execute("VACUUM ANALYZE")
                cursor.execute("CHECKPOINT")
            else:
                # The search index in one segment, as FTS5's own merging would leave it in time
                # (a bulk load writes many small ones, and a search reads each of them).
                cursor.execute("INSERT INTO messaging_message_fts(messaging_message_fts) VALUES ('optimize')")
                cursor.execute("ANALYZE")

    def random_time(self):
        return self.year_ago + timedelta(seconds=self.rng.random() * 365 * 86400)

    # Scenario data ---------------------------------------------------------------------

    def thread(self, replies: int):
        """A root and `replies` replies in one conversation, at most MAX_THREAD_DEPTH deep.

        The first replies form one long chain (the deepest branch); the rest answer
        a random earlier message, or continue the branch just written.
        """
        a, b = self.users(f"thread{replies}-", 2)
        (conversation_id,) = self.conversations_between([(a, b)])
        start = self.now - timedelta(days=1)
        root_id = next(self.message_ids)
        self.message_ids = count(root_id)  # messages() hands out the ids
        nodes = [(root_id, 0, a)]  # id, depth, sender
        rows = [(conversation_id, a, b, start, True, None)]
        spine = min(MAX_THREAD_DEPTH, max(1, replies // 2))
        for i in range(replies):
            pk = root_id + 1 + i
            if i < spine:
                parent = nodes[-1]
            elif self.rng.random() < 0.5 and nodes[-1][1] < MAX_THREAD_DEPTH:
                parent = nodes[-1]
            else:
                parent = self.rng.choice([n for n in nodes[-200:] if n[1] < MAX_THREAD_DEPTH] or nodes[:1])
            sender = b if parent[2] == a else a
            receiver = parent[2]
            nodes.append((pk, parent[1] + 1, sender))
            rows.append((conversation_id, sender, receiver, start + timedelta(seconds=i + 1), True, parent[0]))
        self.messages(rows, label=f"thread of {replies:,} replies")
        self.save_conversation_state([conversation_id])
        self.finish_step()
        return Message.objects.get(pk=root_id), max(depth for _, depth, _ in nodes)

    def inbox_user(self, *, unread: int, partners: int = 100):
        """The measured user: `unread` unread messages and a third as many read, over `partners` people."""
        (focus,) = self.users("inbox-user-", 1)
        partner_ids = self.users("partner-", partners)
        conversation_ids = self.conversations_between([(focus, p) for p in partner_ids])
        weights = [20 * partners // 100 or 1] + [1] * (partners - 1)  # the first partner is the busiest
        plan = []
        read_count = unread // 3
        for n in range(unread + read_count):
            i = self.rng.choices(range(partners), weights)[0]
            incoming = n < unread or self.rng.random() < 0.5
            sender, receiver = (partner_ids[i], focus) if incoming else (focus, partner_ids[i])
            reply = "last" if self.rng.random() < 0.1 else None
            plan.append((conversation_ids[i], sender, receiver, self.random_time(), n >= unread, reply))
        plan.sort(key=lambda row: row[3])
        self.messages(plan, label=f"inbox user ({unread:,} unread)")
        self.save_conversation_state(conversation_ids)
        self.finish_step()
        return User.objects.get(pk=focus), User.objects.get(pk=partner_ids[0]), conversation_ids[0]

    def filler(self, n: int, pool) -> None:
        """`n` messages among other people: 80% read, 10% replies, spread over the past year."""
        if n <= 0:
            return
        plan = []
        for _ in range(n):
            conversation_id = self.rng.choice(pool)
            low, high = self.conversations[conversation_id][:2]
            sender, receiver = (low, high) if self.rng.random() < 0.5 else (high, low)
            reply = "last" if self.rng.random() < 0.1 else None
            plan.append((conversation_id, sender, receiver, self.random_time(), self.rng.random() < 0.8, reply))
        plan.sort(key=lambda row: row[3])
        self.messages(plan, label=f"other people's messages (+{n:,})")
        self.save_conversation_state({row[0] for row in plan})
        self.finish_step()

    def filler_pool(self, max_size: int) -> list[int]:
        """Users and conversations for the filler: about 400 messages per user, 8 partners each."""
        n_users = min(max(max_size // 400, 50), 5000)
        user_ids = self.users("user-", n_users)
        pairs = set()
        while len(pairs) < n_users * 4:
            a, b = self.rng.sample(user_ids, 2)
            pairs.add((min(a, b), max(a, b)))
        return self.conversations_between(sorted(pairs))

