"""The servers `make loadtest` (loadtest/run.py) and `make faults` (scripts/fault_test.py) start:
waiting for them to answer and stopping them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request


def stop_process(proc: subprocess.Popen | None, name: str) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in time; killing it", file=sys.stderr, flush=True)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def wait_for_health(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    """Until `url` answers 200; an error if the server exits or the time runs out."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f}s")
