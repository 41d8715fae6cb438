"""Helpers for the kill-and-resume tests: a training child killed part-way through."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def kill_after_first_epoch(child_code: str, args: list[str], state: Path, *, timeout_s: float) -> int:
    """Run ``python -c child_code *args`` and SIGKILL its process group once ``state`` records an epoch.

    ``state`` is the run folder's ``state.json`` the child writes. Returns
    the epochs it had finished when it was killed (or when it ended, or the
    time ran out).
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    child = subprocess.Popen([sys.executable, "-c", child_code, *args], env=env, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if state.is_file() and json.loads(state.read_text())["epochs_done"] >= 1:
                break
            time.sleep(0.2)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    return json.loads(state.read_text())["epochs_done"]
