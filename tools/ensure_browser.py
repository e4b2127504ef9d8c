"""Make sure Playwright has a Chromium to drive, for `make test`.

Order: Playwright's own Chromium (a developer laptop), then the system
Chromium (Debian: /usr/bin/chromium), then installing one: `playwright install
chromium`, and if that cannot download, `apt-get install chromium`. Exits
non-zero with a clear message when none of these works.
"""

import os
import shutil
import subprocess
import sys

SYSTEM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def playwright_chromium() -> str | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:
        return None
    return path if path and os.path.exists(path) else None


def system_chromium() -> str | None:
    for path in SYSTEM_CANDIDATES:
        if os.path.exists(path):
            return path
    return None


def run(cmd: list[str]) -> bool:
    print("+", " ".join(cmd), flush=True)
    try:
        return subprocess.run(cmd, timeout=900).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"  failed: {error}")
        return False


def main() -> int:
    found = playwright_chromium() or system_chromium()
    if found:
        print(f"Browser for end-to-end tests: {found}")
        return 0
    print("No Chromium found for the end-to-end tests; installing one.")
    if run([sys.executable, "-m", "playwright", "install", "chromium"]) and playwright_chromium():
        return 0
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is not None and shutil.which("apt-get"):
        env_prefix = ["env", "DEBIAN_FRONTEND=noninteractive"]
        if run(sudo + env_prefix + ["apt-get", "update", "-qq"]) and run(
            sudo + env_prefix + ["apt-get", "install", "-y", "-qq", "chromium"]
        ) and system_chromium():
            print(f"Browser for end-to-end tests: {system_chromium()}")
            return 0
    print(
        "\nERROR: no browser for the end-to-end tests.\n"
        "Install one of: `.venv/bin/playwright install chromium` (needs internet) or\n"
        "`sudo apt-get install chromium` (Debian/Ubuntu), then run `make test` again.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
