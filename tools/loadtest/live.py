"""The live phase of `make loadtest`: many event streams held open, messages sent across hosts.

Two app servers (one uvicorn worker process each, like two hosts) share one Redis and one
database. LIVE_STREAMS people each hold an event stream, half on each server; senders
POST messages to them through the *other* server, so every event crosses processes
through Redis. Measured:
- delivery latency, from the sender's POST returning to the `conversation-<id>` event
  arriving on the receiver's stream (p50, p99; an event that arrives before the POST has
  returned counts as 0 ms);
- events lost (a send whose event never arrives) and duplicated (one arriving twice);
- worker memory per open stream (RSS growth from before the streams to all of them open).

Everything runs in one asyncio loop with plain sockets (HTTP/1.1, chunked), so 1,000
streams cost this side almost nothing.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import psutil

HOST = "127.0.0.1"
CSRF = "a" * 32  # any well-formed token works when the cookie and the header agree


@dataclass
class LiveReport:
    streams_wanted: int
    streams_open: int = 0
    sends: int = 0
    send_errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    rss_before: dict[int, int] = field(default_factory=dict)
    rss_open: dict[int, int] = field(default_factory=dict)
    streams_per_server: dict[int, int] = field(default_factory=dict)

    def per_stream_kib(self) -> float | None:
        growth = sum(self.rss_open.values()) - sum(self.rss_before.values())
        return growth / self.streams_open / 1024 if self.streams_open else None

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)

        def pct(p):
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else None

        return {
            "streams_wanted": self.streams_wanted,
            "streams_open": self.streams_open,
            "streams_per_server": self.streams_per_server,
            "sends": self.sends,
            "send_errors": self.send_errors,
            "delivered": len(lat),
            "p50_ms": pct(50),
            "p99_ms": pct(99),
            "max_ms": lat[-1] if lat else None,
            "mean_ms": statistics.fmean(lat) if lat else None,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "kib_per_stream": self.per_stream_kib(),
            "rss_before_mib": {str(k): v / 2**20 for k, v in self.rss_before.items()},
            "rss_open_mib": {str(k): v / 2**20 for k, v in self.rss_open.items()},
        }


class Stream:
    """One person's event stream: the events that arrived, with their arrival time."""

    def __init__(self, port: int, session: str):
        self.port, self.session = port, session
        self.events: list[tuple[float, str, str]] = []
        self.opened = asyncio.Event()
        self.failed: str | None = None
        self.arrived = asyncio.Event()

    async def run(self) -> None:
        try:
            reader, writer = await asyncio.open_connection(HOST, self.port, limit=2**20)
        except OSError as error:
            self.failed = str(error)
            self.opened.set()
            return
        writer.write(
            (f"GET /events/ HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nAccept: text/event-stream\r\n"
             f"Cookie: sessionid={self.session}\r\n\r\n").encode()
        )  # fmt: skip
        await writer.drain()
        try:
            status = await reader.readline()
            if b" 200 " not in status:
                self.failed = status.decode().strip()
                return
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # headers
            self.opened.set()
            buffer = ""
            while True:
                size_line = await reader.readline()
                if not size_line:
                    return
                size = int(size_line.strip() or b"0", 16)
                if size == 0:
                    return
                chunk = await reader.readexactly(size + 2)
                buffer += chunk[:-2].decode()
                while "\n\n" in buffer:
                    frame, buffer = buffer.split("\n\n", 1)
                    fields = dict(line.split(": ", 1) for line in frame.split("\n") if ": " in line)
                    if "event" in fields:
                        self.events.append((time.monotonic(), fields["event"], fields.get("data", "")))
                        self.arrived.set()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self.opened.set()
            writer.close()


async def post(port: int, path: str, data: dict, session: str) -> int:
    body = urlencode(data).encode()
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
         f"Content-Length: {len(body)}\r\nCookie: sessionid={session}; csrftoken={CSRF}\r\nX-CSRFToken: {CSRF}\r\n"
         f"HX-Request: true\r\nConnection: close\r\n\r\n").encode() + body
    )  # fmt: skip
    await writer.drain()
    status = await reader.readline()
    await reader.read()  # the whole response: the POST has "returned"
    writer.close()
    return int(status.split()[1])


def rss(pids) -> dict[int, int]:
    out = {}
    for pid in pids:
        try:
            out[pid] = psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return out


async def run_live(people: list[dict], senders: list[dict], ports: list[int], server_pids: list[int], *,
                   seconds: float, concurrency: int, log) -> LiveReport:  # fmt: skip
    """`people`: {"session", "conversation"}; `senders`: {"session"} (each in every conversation's pair)."""
    report = LiveReport(streams_wanted=len(people))
    await asyncio.sleep(1)
    report.rss_before = rss(server_pids)
    streams = []
    for index, person in enumerate(people):
        port = ports[index % len(ports)]
        stream = Stream(port, person["session"])
        stream.person = person
        streams.append(stream)
    tasks = [asyncio.create_task(s.run()) for s in streams]
    for batch in range(0, len(streams), 100):  # open them in waves, as browsers would
        await asyncio.gather(*(s.opened.wait() for s in streams[batch:batch + 100]))
    open_streams = [s for s in streams if s.failed is None]
    report.streams_open = len(open_streams)
    for s in open_streams:
        report.streams_per_server[s.port] = report.streams_per_server.get(s.port, 0) + 1
    failures = [s.failed for s in streams if s.failed]
    log(f"live: {report.streams_open} of {len(streams)} streams open"
        + (f"; failures: {sorted(set(failures))[:3]}" if failures else ""))  # fmt: skip
    await asyncio.sleep(2)
    report.rss_open = rss(server_pids)

    deadline = time.monotonic() + seconds
    pending: list[tuple[Stream, str, float, int]] = []  # (stream, event, POST returned at, events before)
    rng = random.Random(7)

    async def sender(sender_index: int) -> None:
        me = senders[sender_index]
        mine = [s for s in open_streams if s.person["sender"] == sender_index]
        if not mine:
            return
        while time.monotonic() < deadline:
            stream = rng.choice(mine)
            # Through the other server: the event must cross processes (Redis).
            via = ports[(ports.index(stream.port) + 1) % len(ports)]
            before = len(stream.events)
            conversation = stream.person["conversation"]
            try:
                status = await post(via, f"/conversations/{conversation}/", {"content": "live load"}, me["session"])
            except OSError:
                status = 0
            returned = time.monotonic()
            report.sends += 1
            if status != 200:
                report.send_errors += 1
                continue
            pending.append((stream, f"conversation-{conversation}", returned, before))
            # One send at a time per conversation: wait for its event (or give up after 5 s).
            wait_until = returned + 5
            while time.monotonic() < wait_until:
                if any(name == f"conversation-{conversation}" for _, name, _ in stream.events[before:]):
                    break
                stream.arrived.clear()
                try:
                    await asyncio.wait_for(stream.arrived.wait(), timeout=0.5)
                except TimeoutError:
                    pass

    await asyncio.gather(*(sender(i) for i in range(min(concurrency, len(senders)))))
    await asyncio.sleep(1)  # late arrivals
    for stream, name, returned, before in pending:
        arrivals = [(at, data) for at, event, data in stream.events[before:] if event == name]
        versions = {}
        for at, data in arrivals:
            versions.setdefault(data, []).append(at)
        if not arrivals:
            report.lost += 1
            continue
        first_version = min(versions, key=lambda v: versions[v][0])
        report.latencies_ms.append(max(0.0, (versions[first_version][0] - returned) * 1000))
    # Duplicates: the same (conversation, version) twice on one stream, over the whole run.
    for stream in open_streams:
        seen = set()
        for _, name, data in stream.events:
            if name.startswith("conversation-"):
                if (name, data) in seen:
                    report.duplicated += 1
                seen.add((name, data))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return report
