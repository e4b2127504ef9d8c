"""End-to-end fixtures: a real Chromium against the app served over ASGI (or BASE_URL), users made through the UI.

The app runs in this process under uvicorn (as `make serve` runs it), so the event
stream and the polls are exercised for real; it can be restarted mid-test
(`asgi_server.restart()`) to cut every stream.

Run against an already running server with `make e2e BASE_URL=https://staging.example`:
then nothing touches a database directly; every user is signed up through the
pages, and the demo-login smoke test expects `seed_demo` to have been run there.

Every journey fails on a console error, a page error or a failed request it did not
expect: a test that expects some says so with `expect_console_errors(pattern)`.
"""

import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from . import helpers

ARTIFACTS = Path(__file__).parent / "artifacts"
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SYSTEM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            # The live server and the test share the database, so no wrapping transaction.
            item.add_marker(pytest.mark.django_db(transaction=True))
    # The browser tests run last, after every unit test: Playwright's sync API keeps an event
    # loop running in the main thread, where the unit tests' async_to_sync could not run.
    items.sort(key=lambda item: "/e2e/" in str(item.fspath))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, playwright):
    """Playwright's own Chromium where it is installed, else the system one (Debian)."""
    args = {**browser_type_launch_args, "headless": True}
    own = playwright.chromium.executable_path
    if own and os.path.exists(own):
        return args
    for path in SYSTEM_CHROMIUM:
        if os.path.exists(path):
            return {**args, "executable_path": path, "args": [*args.get("args", []), *SYSTEM_FLAGS]}
    pytest.exit("No Chromium for the end-to-end tests: run `make test`, which installs one.", returncode=3)


@pytest.fixture(scope="session")
def remote_base_url():
    return os.environ.get("BASE_URL", "").rstrip("/")


class AsgiServer:
    """uvicorn in a thread of this process, serving site_config.asgi on a fixed port."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = self._thread = None

    def start(self) -> None:
        import uvicorn

        from site_config.asgi import application

        config = uvicorn.Config(
            application, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=1, ws="none",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self._thread.is_alive(), "uvicorn exited"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None

    def restart(self) -> None:
        """Stop (every open stream is cut) and start again on the same port."""
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    server = AsgiServer()
    with django_db_blocker.unblock():
        server.start()
    yield server
    server.stop()


@pytest.fixture
def app_url(request, remote_base_url):
    """The server under test: BASE_URL when given, else the app over ASGI with a fresh database."""
    if remote_base_url:
        return remote_base_url
    from django.core.cache import cache

    cache.clear()
    return request.getfixturevalue("asgi_server").url




class ConsoleWatch:
    """Console errors, page errors and failed requests of every page a test opens."""

    def __init__(self):
        self.problems: list[str] = []
        self.expected: list[re.Pattern] = []

    def attach(self, page) -> None:
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(
            f"console: {msg.text} ({msg.location.get('url', '')})"))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 500 and self.problems.append(f"{r.status} {r.url}"))

    def _failed(self, request) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" in failure:  # the page moved on (a poll or the stream cut by leaving): not a fault
            return
        self.problems.append(f"request failed: {request.method} {request.url} ({failure})")

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(e.search(p) for e in self.expected)]


@pytest.fixture
def console_watch():
    return ConsoleWatch()


@pytest.fixture
def expect_console_errors(console_watch):
    """expect_console_errors(r"pattern", ...): problems matching these don't fail the test."""

    def expect(*patterns: str) -> None:
        console_watch.expected.extend(re.compile(p) for p in patterns)

    return expect


@pytest.fixture
def demo_data(app_url, remote_base_url):
    if not remote_base_url:
        from django.core.management import call_command

        call_command("seed_demo", stdout=open(os.devnull, "w"))
    return app_url


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def open_session(browser, app_url, request, console_watch):
    """Factory: a new browser context (its own cookies) and page. Screenshots kept on failure;
    the test fails on any console error, page error or failed request it did not expect."""
    contexts = []

    def open_(*, javascript=True, width=1280, height=900, color_scheme="light"):
        context = browser.new_context(
            base_url=app_url,
            java_script_enabled=javascript,
            viewport={"width": width, "height": height},
            color_scheme=color_scheme,
        )
        context.set_default_timeout(10_000)
        context.on("page", console_watch.attach)
        page = context.new_page()
        contexts.append(context)
        return page

    yield open_
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for index, context in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
            for page in context.pages:
                try:
                    page.screenshot(path=ARTIFACTS / f"{name}-{index}.png", full_page=True)
                except Exception:  # noqa: BLE001 - a screenshot must not hide the failure
                    pass
        context.close()
    problems = console_watch.unexpected()
    if problems and failed:
        print("console errors and failed requests of the failed test:\n" + "\n".join(problems[:20]))
    if problems and not failed:
        pytest.fail("unexpected console errors or failed requests:\n" + "\n".join(problems[:20]), pytrace=False)


@pytest.fixture
def new_user(open_session):
    """Factory: sign a fresh user up through the page; returns (page, username)."""

    def make(prefix="user", **session_options):
        page = open_session(**session_options)
        username = f"{prefix}{uuid.uuid4().hex[:8]}"
        helpers.sign_up(page, username)
        return page, username

    return make
