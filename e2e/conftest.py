"""End-to-end fixtures: a real Chromium against live_server (or BASE_URL), users made through the UI.

Run against an already running server with `make e2e BASE_URL=https://staging.example`:
then nothing touches a database directly; every user is signed up through the
pages, and the demo-login smoke test expects `seed_demo` to have been run there.
"""

import os
import re
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


@pytest.fixture
def app_url(request, remote_base_url):
    """The server under test: BASE_URL when given, else a live_server with a fresh database."""
    if remote_base_url:
        return remote_base_url
    from django.core.cache import cache

    cache.clear()
    return request.getfixturevalue("live_server").url


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
def open_session(browser, app_url, request):
    """Factory: a new browser context (its own cookies) and page. Screenshots kept on failure."""
    contexts = []

    def open_(*, javascript=True, width=1280, height=900, color_scheme="light"):
        context = browser.new_context(
            base_url=app_url,
            java_script_enabled=javascript,
            viewport={"width": width, "height": height},
            color_scheme=color_scheme,
        )
        context.set_default_timeout(10_000)
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


@pytest.fixture
def new_user(open_session):
    """Factory: sign a fresh user up through the page; returns (page, username)."""

    def make(prefix="user", **session_options):
        page = open_session(**session_options)
        username = f"{prefix}{uuid.uuid4().hex[:8]}"
        helpers.sign_up(page, username)
        return page, username

    return make
