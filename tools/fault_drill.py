"""`make faults`: a load run and an outage drill against real servers, in under a minute.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dm_ci .venv/bin/python -m tools.fault_drill

Everything it breaks is its own, so nobody else's PostgreSQL or Redis is touched:
- a throwaway database `<name>_faults_<pid>` next to DATABASE_URL's (dropped at the end);
- its own redis-server on a free 127.0.0.1 port (no persistence), which it stops and restarts;
- its own TCP proxy in front of PostgreSQL on a free 127.0.0.1 port: stopping it closes
  every connection and refuses new ones, which the app cannot tell from the database
  going away;
- uvicorn (2 ASGI workers, as `make serve`) on a free 127.0.0.1 port, talking to the database through
  the proxy and to that Redis.

Phases, each checked:
1. load: LOAD_USERS people sign up, then all at once send a known set of messages
   (compose, plain and htmx posts) while polling their badge and reading; afterwards
   the database holds exactly those messages, each with exactly one notification, every
   badge shows the right count, and no response was a 5xx.
2. Redis down: every page and every send still answers 2xx/3xx; the log has the warning.
3. Redis back: the cache is used again (a badge key appears, and cache hits count up).
4. PostgreSQL down: every request gets the friendly 503 page within 2 s; /healthz stays up.
5. PostgreSQL back: pages answer 2xx again with the same server processes (no restart).

Everything started is stopped at the end, on failure and Ctrl+C too.
Exit status: 0 all checks passed, 1 a check failed, 2 it could not run.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
import redis
import requests

from tools import toolbox
from tools.toolbox import HOST, Database, log

LOAD_USERS = int(os.environ.get("FAULTS_LOAD_USERS", "20"))
LOAD_MESSAGES = int(os.environ.get("FAULTS_LOAD_MESSAGES", "10"))  # per person, below RATE_LIMIT_SEND (30/min)
DB_DOWN_LIMIT_S = 2.0
RECOVERY_LIMIT_S = 10.0
PASSWORD = "a-long-fault-drill-passphrase"
FRIENDLY_503 = "We'll be right back"

class Checks:
    def __init__(self):
        self.rows: list[tuple[bool, str, str]] = []

    def add(self, ok: bool, rule: str, detail: str = "") -> bool:
        self.rows.append((bool(ok), rule, detail))
        log(f"{'PASS' if ok else 'FAIL'}  {rule}{f' ({detail})' if detail else ''}")
        return bool(ok)

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(ok for ok, _, _ in self.rows)


# --- The servers this script owns ------------------------------------------------------------


class TcpProxy:
    """A thread-per-direction TCP relay. stop() closes every connection and the listener
    (new connections are refused); start() listens again on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.hang = False  # accept connections but never answer (a database that hangs)
        self.port = toolbox.free_port()
        self.listener: socket.socket | None = None
        self.acceptor: threading.Thread | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.running = threading.Event()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(64)
        self.listener = listener
        self.running.set()
        self.acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self.acceptor.start()

    def stop(self) -> None:
        self.running.clear()
        if self.listener is not None:
            # The accept loop's select() holds the socket open until it returns: wait
            # for it, so the port is free (refusing) at once and can be listened on again.
            self.acceptor.join(timeout=2)
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self.running.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], 0.1)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):
                return
            if self.hang:
                with self.lock:
                    self.sockets.add(client)
                    if not self.running.is_set():
                        client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if not self.running.is_set():
                    client.close()
                    upstream.close()
                    return
                self.sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def via_proxy(url: str, port: int) -> str:
    """The same database URL, through a proxy on 127.0.0.1:port."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{auth}{HOST}:{port}"))


def query(db: Database, sql: str, *args) -> list[tuple]:
    with psycopg.connect(db.url, connect_timeout=5) as conn:
        return conn.execute(sql, args).fetchall()


# --- A person with a browser ---------------------------------------------------------------------


class Person:
    def __init__(self, base: str, username: str):
        self.base = base
        self.username = username
        self.http = requests.Session()
        self.responses: list[tuple[str, str, int, float]] = []  # (method, path, status, seconds)

    def request(self, method: str, path: str, *, data=None, htmx=False, timeout=10) -> requests.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        if method == "POST":
            token = self.http.cookies.get("csrftoken", "")
            headers["X-CSRFToken"] = token
            data = {**(data or {}), "csrfmiddlewaretoken": token}
        started = time.monotonic()
        response = self.http.request(
            method, self.base + path, data=data, headers=headers, allow_redirects=False, timeout=timeout
        )
        self.responses.append((method, path, response.status_code, time.monotonic() - started))
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict, **kwargs) -> requests.Response:
        return self.request("POST", path, data=data, **kwargs)

    def sign_up(self) -> None:
        self.get("/accounts/signup/")
        response = self.post(
            "/accounts/signup/", {"username": self.username, "password1": PASSWORD, "password2": PASSWORD}
        )
        if response.status_code != 302:
            raise RuntimeError(f"sign-up of {self.username} answered {response.status_code}")

    def badge(self) -> int | None:
        response = self.get("/unread-badge/", htmx=True)
        match = re.search(r'data-unread-count="(\d+)"', response.text)
        return int(match.group(1)) if response.status_code == 200 and match else None


def conversation_path(location: str) -> str:
    return location.split("#")[0]


# --- Phases ----------------------------------------------------------------------------------------


def phase_load(base: str, db: Database, checks: Checks) -> list[Person]:
    """Everyone signs up, then everyone sends at once; the database must hold exactly that."""
    run = secrets.token_hex(3)
    people = [Person(base, f"load{run}u{n}") for n in range(LOAD_USERS)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(Person.sign_up, people))
    expected: set[tuple[str, str, str]] = set()
    for n, person in enumerate(people):
        for m in range(LOAD_MESSAGES):
            partner = people[(n + 1 + m % 3) % LOAD_USERS]
            expected.add((person.username, partner.username, f"load {run} from {n} #{m}"))
    barrier = threading.Barrier(LOAD_USERS)
    failures: list[str] = []

    def sender(n: int) -> None:
        person = people[n]
        conversations: dict[str, str] = {}
        barrier.wait(timeout=30)
        for m in range(LOAD_MESSAGES):
            partner = people[(n + 1 + m % 3) % LOAD_USERS].username
            content = f"load {run} from {n} #{m}"
            if partner not in conversations:
                response = person.post("/compose/", {"to": partner, "content": content})
                if response.status_code == 302:
                    conversations[partner] = conversation_path(response.headers["Location"])
            else:
                response = person.post(conversations[partner], {"content": content}, htmx=bool(m % 2))
            if response.status_code not in (200, 302):
                failures.append(f"{person.username} #{m}: {response.status_code}")
            person.badge()  # everyone's tab polls while the others write
            if m == LOAD_MESSAGES // 2:
                person.get("/")  # ...and reads a conversation now and then
                for path in list(conversations.values())[:1]:
                    person.get(path)

    started = time.monotonic()
    with ThreadPoolExecutor(LOAD_USERS) as pool:
        for future in [pool.submit(sender, n) for n in range(LOAD_USERS)]:
            future.result()
    seconds = time.monotonic() - started

    responses = [r for p in people for r in p.responses]
    server_errors = [r for r in responses if r[2] >= 500]
    sends = len(expected)
    checks.add(not failures, f"load: all {sends} sends accepted (302/200)", "; ".join(failures[:5]) or
               f"{sends} sends by {LOAD_USERS} people in {seconds:.1f}s, {len(responses)} requests in all, "
               f"p95 {sorted(r[3] for r in responses)[int(len(responses) * 0.95)] * 1000:.0f} ms")
    checks.add(not server_errors, "load: zero 5xx", f"{len(server_errors)} of {len(responses)}")

    rows = query(db, 
        """SELECT s.username, r.username, m.content, count(n.id), count(n.id) FILTER (WHERE n.user_id = m.receiver_id)
           FROM messaging_message m JOIN auth_user s ON s.id = m.sender_id JOIN auth_user r ON r.id = m.receiver_id
           LEFT JOIN messaging_notification n ON n.message_id = m.id
           WHERE m.content LIKE %s GROUP BY m.id, s.username, r.username""",
        f"load {run} %",
    )
    stored = [(s, r, c) for s, r, c, _, _ in rows]
    checks.add(
        sorted(stored) == sorted(expected),
        "load: the database holds exactly the messages sent",
        f"{len(stored)} stored, {len(expected)} sent, {len(set(stored) - expected)} unexpected, "
        f"{len(expected - set(stored))} missing, {len(stored) - len(set(stored))} duplicated",
    )
    wrong = [(s, r, c, k, ok) for s, r, c, k, ok in rows if k != 1 or ok != 1]
    checks.add(not wrong, "load: each message has exactly one notification, for its receiver",
               f"{len(rows) - len(wrong)} of {len(rows)} right")  # fmt: skip

    unread = dict(query(db, 
        """SELECT u.username, count(m.id) FROM auth_user u LEFT JOIN messaging_message m
           ON m.receiver_id = u.id AND NOT m.read WHERE u.username LIKE %s GROUP BY u.username""",
        f"load{run}u%",
    ))  # fmt: skip
    badges = {p.username: p.badge() for p in people}
    off = {name: (badges[name], unread.get(name)) for name in badges if badges[name] != unread.get(name)}
    checks.add(not off, "load: every badge shows the exact unread count afterwards",
               f"{len(badges) - len(off)} of {len(badges)} right" + (f"; wrong: {off}" if off else ""))  # fmt: skip
    return people


def browse(person: Person, conversation: str, tag: str) -> list[tuple[str, int, float]]:
    """What an open tab does: pages, polls, the cached partial, and two sends."""
    out = []
    for method, path, kwargs in [
        ("GET", "/", {}),
        ("GET", "/unread-badge/", {"htmx": True}),
        ("GET", conversation, {}),
        ("GET", conversation + "messages/?v=1", {"htmx": True}),
        ("GET", "/notifications/", {}),
        ("POST", conversation, {"data": {"content": f"{tag} plain"}}),
        ("POST", conversation, {"data": {"content": f"{tag} htmx"}, "htmx": True}),
    ]:
        started = time.monotonic()
        try:
            response = person.request(method, path, **kwargs)
            status, text = response.status_code, response.text
        except requests.RequestException as error:
            status, text = 0, str(error)
        out.append((f"{method} {path}", status, time.monotonic() - started, text))
    return out


def phase_redis(base: str, person: Person, conversation: str, cache: toolbox.RedisServer, db: Database,
                server_log: Path, prefix: str, checks: Checks) -> None:  # fmt: skip
    log_offset = server_log.stat().st_size
    cache.stop()
    log("Redis stopped")
    results = []
    for round_ in range(3):  # several requests, so both workers meet the outage
        results += browse(person, conversation, f"redis down {round_}")
    fresh = Person(base, person.username)  # a login needs the cache too (rate limit)
    fresh.get("/accounts/login/")
    login = fresh.post("/accounts/login/", {"username": person.username, "password": PASSWORD})
    results.append(("POST /accounts/login/", login.status_code, fresh.responses[-1][3], ""))
    bad = [(name, status) for name, status, _, _ in results if not 200 <= status < 400]
    slowest = max(seconds for _, _, seconds, _ in results)
    checks.add(not bad, "Redis down: every page, send and login answers 2xx/3xx",
               f"{len(results) - len(bad)} of {len(results)}, slowest {slowest * 1000:.0f} ms" + (f"; {bad}" if bad else ""))  # fmt: skip
    stored = query(db, "SELECT count(*) FROM messaging_message WHERE content LIKE 'redis down %%'")[0][0]
    checks.add(stored == 6, "Redis down: the messages sent meanwhile are stored", f"{stored} of 6")
    new_log = server_log.read_text(errors="replace")[log_offset:]
    checks.add("Exception ignored" in new_log and "ConnectionError" in new_log,
               "Redis down: the outage is logged (messaging.cache)",
               f"{new_log.count('Exception ignored')} 'Exception ignored' lines")  # fmt: skip

    cache.start()
    back = time.monotonic()
    log("Redis started again")
    key = None
    while time.monotonic() - back < RECOVERY_LIMIT_S and key is None:
        person.badge()
        key = next(iter(cache.client.scan_iter(match=f"{prefix}:*unread-badge:*", count=100)), None)
        if key is None:
            time.sleep(0.1)
    checks.add(key is not None, "Redis back: the cache is written again",
               f"badge key {key.decode() if key else None} after {time.monotonic() - back:.2f}s")  # fmt: skip
    hits = cache.client.info("stats")["keyspace_hits"]
    for _ in range(4):
        person.badge()
    hits_after = cache.client.info("stats")["keyspace_hits"]
    checks.add(hits_after > hits, "Redis back: the cache is read again (keyspace hits go up)",
               f"{hits} -> {hits_after}")  # fmt: skip


def server_pids(master: int) -> set[int]:
    proc = psutil.Process(master)
    return {master} | {child.pid for child in proc.children(recursive=True)}


def phase_database(base: str, person: Person, conversation: str, proxy: TcpProxy, db: Database,
                   master: int, checks: Checks) -> None:  # fmt: skip
    pids = server_pids(master)
    proxy.stop()
    log("PostgreSQL cut off (proxy stopped: connections closed, new ones refused)")
    results = []
    for round_ in range(3):
        results += browse(person, conversation, f"db down {round_}")
    anonymous = Person(base, "nobody")
    for path in ("/accounts/login/", "/healthz"):
        started = time.monotonic()
        response = anonymous.get(path)
        results.append((f"GET {path} (anonymous)", response.status_code, time.monotonic() - started, response.text))
    pages = [r for r in results if "/healthz" not in r[0] and "/accounts/login/" not in r[0]]
    not_503 = [(name, status) for name, status, _, text in pages if status != 503 or FRIENDLY_503 not in text]
    slowest = max(seconds for _, _, seconds, _ in pages)
    checks.add(not not_503, "PostgreSQL down: every request gets the friendly 503 page",
               f"{len(pages) - len(not_503)} of {len(pages)}" + (f"; {not_503}" if not_503 else ""))  # fmt: skip
    checks.add(slowest < DB_DOWN_LIMIT_S, f"PostgreSQL down: answered within {DB_DOWN_LIMIT_S:.0f} s, never hanging",
               f"slowest {slowest * 1000:.0f} ms, median {sorted(r[2] for r in pages)[len(pages) // 2] * 1000:.0f} ms")  # fmt: skip
    health = next(r for r in results if "/healthz" in r[0])
    checks.add(health[1] == 200, "PostgreSQL down: /healthz still answers (no database needed)", str(health[1]))

    # A database that accepts connections and never answers: the connect timeout (2 s)
    # is what bounds the wait.
    proxy.hang = True
    proxy.start()
    log("PostgreSQL hanging (proxy accepts, never answers)")
    hung = []
    for path, htmx in (("/", False), ("/unread-badge/", True)):
        started = time.monotonic()
        response = person.get(path, htmx=htmx)
        hung.append((f"GET {path}", response.status_code, time.monotonic() - started, response.text))
    limit = int(os.environ.get("DB_CONNECT_TIMEOUT", "2")) + 1.0
    checks.add(all(status == 503 and FRIENDLY_503 in text and seconds < limit for _, status, seconds, text in hung),
               f"PostgreSQL hanging: the friendly 503 within the connect timeout + 1 s ({limit:.0f} s)",
               ", ".join(f"{name} {status} in {seconds * 1000:.0f} ms" for name, status, seconds, _ in hung))  # fmt: skip
    proxy.stop()
    proxy.hang = False

    proxy.start()
    back = time.monotonic()
    log("PostgreSQL reachable again (proxy started)")
    first_ok = None
    while time.monotonic() - back < RECOVERY_LIMIT_S:
        try:
            if person.get("/", timeout=5).status_code == 200:
                first_ok = time.monotonic() - back
                break
        except requests.RequestException:
            pass
        time.sleep(0.1)
    checks.add(first_ok is not None, "PostgreSQL back: pages answer 200 again by themselves",
               f"first 200 after {first_ok:.2f}s" if first_ok is not None else f"none in {RECOVERY_LIMIT_S:.0f}s")  # fmt: skip
    results = []
    for round_ in range(3):
        results += browse(person, conversation, f"db back {round_}")
    bad = [(name, status) for name, status, _, _ in results if not 200 <= status < 400]
    checks.add(not bad, "PostgreSQL back: every page and send answers 2xx/3xx (both workers)",
               f"{len(results) - len(bad)} of {len(results)}" + (f"; {bad}" if bad else ""))  # fmt: skip
    stored = query(db, "SELECT count(*) FROM messaging_message WHERE content LIKE 'db back %%'")[0][0]
    down = query(db, "SELECT count(*) FROM messaging_message WHERE content LIKE 'db down %%'")[0][0]
    checks.add(stored == 6 and down == 0, "PostgreSQL back: sends land again (none half-landed during the outage)",
               f"{stored} of 6 after, {down} during")  # fmt: skip
    same = server_pids(master) == pids
    checks.add(same, "PostgreSQL back: no process was restarted", f"server pids {sorted(pids)}")


# --- Main ----------------------------------------------------------------------------------------------


def main() -> int:
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        log("tools/fault_drill.py needs DATABASE_URL=postgres://... (a server it may create a database on).")
        return 2
    if not shutil.which("redis-server"):
        log("tools/fault_drill.py needs redis-server on PATH.")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="dm-faults-"))
    checks = Checks()
    server_log = workdir / "server.log"
    toolbox.interrupt_on_sigterm()
    try:
        # Unwound in reverse: the server, the proxy and redis-server stop before the database is dropped.
        with ExitStack() as cleanup:
            db = cleanup.enter_context(toolbox.throwaway_database(base_url, f"faults_{os.getpid()}"))
            # Its own redis-server, thrown away at the end: no keys to clean up.
            prefix = cleanup.enter_context(toolbox.throwaway_cache_prefix("faults"))
            cache = toolbox.RedisServer(workdir)
            cache.start()
            cleanup.callback(cache.stop)
            parts = urlsplit(db.url)
            proxy = TcpProxy((parts.hostname or HOST, parts.port or 5432))
            proxy.start()
            cleanup.callback(proxy.stop)
            env = toolbox.server_env(
                DATABASE_URL=via_proxy(db.url, proxy.port),
                REDIS_URL=f"redis://{HOST}:{cache.port}/0",
                CACHE_KEY_PREFIX=prefix,
                LOG_LEVEL="INFO",
                DB_CONNECT_TIMEOUT="2",
                # Every person of the drill signs up from 127.0.0.1.
                RATE_LIMIT_SIGNUP="1000/h",
                RATE_LIMIT_LOGIN_ADDRESS="1000/m",
            )
            log(f"Database {db.name} through a proxy on :{proxy.port}; redis-server on :{cache.port}; "
                f"logs in {workdir}")
            toolbox.run_python("manage.py", "migrate", "--noinput", "-v0", env={**env, "DATABASE_URL": db.url},
                               timeout=120)
            port = toolbox.free_port()
            server = toolbox.serve(port=port, workers=2, env=env, log_path=server_log)
            cleanup.callback(toolbox.stop_process, server, "uvicorn")
            base = f"http://{HOST}:{port}"
            log(f"uvicorn (2 workers) on {base}, pid {server.pid}")

            log(f"Phase 1: load ({LOAD_USERS} people x {LOAD_MESSAGES} messages, all at once)")
            people = phase_load(base, db, checks)
            # Someone fresh for the drill: the load used part of everyone's send allowance.
            person = Person(base, f"drill{secrets.token_hex(3)}")
            person.sign_up()
            response = person.post("/compose/", {"to": people[0].username, "content": "drill"})
            if response.status_code != 302:
                raise RuntimeError(f"the drill's first message answered {response.status_code}")
            conversation = conversation_path(response.headers["Location"])
            log("Phase 2-3: Redis down, then back")
            phase_redis(base, person, conversation, cache, db, server_log, prefix, checks)
            log("Phase 4-5: PostgreSQL down, then back")
            phase_database(base, person, conversation, proxy, db, server.pid, checks)
            checks.add(server.poll() is None, "the server ran throughout")
    except KeyboardInterrupt:
        log("Interrupted.")
        return 2
    except Exception as error:  # noqa: BLE001 - reported as a failed check; everything is stopped by then
        log(f"Fault drill could not run to the end: {error!r}")
        checks.add(False, "the drill ran to the end", repr(error))

    print("\nFault drill (tools/fault_drill.py):")
    for ok, rule, detail in checks.rows:
        print(f"  {'PASS' if ok else 'FAIL'}  {rule}{f' ({detail})' if detail else ''}")
    print(f"  total {log.elapsed():.1f}s")
    if checks.passed:
        shutil.rmtree(workdir, ignore_errors=True)
        print("All checks passed.")
        return 0
    print(f"FAILED; server log kept in {server_log}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
