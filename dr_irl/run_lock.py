"""One run at a time per run directory: an exclusive lock (``filelock``) held for the whole run.

The lock is an OS file lock on ``<run_dir>/.dr_irl.lock``: the kernel releases it when the process ends,
however it ends (``kill -9`` included), so there are no stale locks to clean up. The holder writes its
pid, host and start time to ``<run_dir>/.dr_irl.owner.json`` so that a second run can say who holds it.
Across the ranks of one run only rank 0 takes it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from dr_irl.errors import UserError
from dr_irl.io import atomic_write_json

LOCK_FILE = ".dr_irl.lock"
OWNER_FILE = ".dr_irl.owner.json"


class RunLockedError(UserError):
    """Another run holds the run directory."""


class RunLock:
    """``with RunLock(run_dir):`` — fails at once with :class:`RunLockedError` when another run holds it."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._lock = FileLock(self.run_dir / LOCK_FILE, timeout=0)

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise RunLockedError(
                f"run directory {self.run_dir} is in use by another run ({self.holder()}); wait for it to "
                "finish, or choose another directory (hydra.run.dir=... or a different run_name)"
            ) from None
        atomic_write_json(
            self.run_dir / OWNER_FILE,
            {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")},
        )
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            (self.run_dir / OWNER_FILE).unlink(missing_ok=True)
            self._lock.release()

    def holder(self) -> str:
        """``pid N on host H since T`` of the current holder, as far as its owner file says (a holder that
        has just taken the lock gets a moment to write it)."""
        for _ in range(20):
            try:
                owner = json.loads((self.run_dir / OWNER_FILE).read_text(encoding="utf-8"))
                return f"pid {owner['pid']} on host {owner['host']} since {owner['started']}"
            except (OSError, ValueError, KeyError, TypeError):
                time.sleep(0.1)
        return "holder unknown: it has not written its owner file"

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
