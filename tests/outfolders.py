"""Output folders in trouble, for tests: held by another process, or refusing writes.

``held_by_another_process`` starts a real second process that takes the folder's lock the way an
enhance command does (an exclusive ``flock`` on ``FOLDER/.enhance.lock``, holder facts written
into it) with nothing but the standard library, so the tests check the protocol, not our own code
talking to itself.

``deny_writes_in`` makes every file creation inside one folder fail as on a read-only or
immutable file system. Tests run as root here and in CI, and root ignores permission bits, so
``chmod`` cannot make a folder read-only for them; the refusal is raised where the kernel would
raise it, at ``os.open``, the call every enhance writer (and the lock) goes through first.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["deny_writes_in", "held_by_another_process"]

_HOLDER = r"""
import fcntl, json, os, sys, time
folder = sys.argv[1]
os.makedirs(folder, exist_ok=True)
fd = os.open(os.path.join(folder, ".enhance.lock"), os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.ftruncate(fd, 0)
os.write(fd, json.dumps({"pid": os.getpid(), "started": "2024-01-01T00:00:00+00:00", "command": "test"}).encode())
print("held", flush=True)
sys.stdin.read()  # hold until the test closes our stdin, or kills us
"""


@contextmanager
def held_by_another_process(folder: Path) -> Iterator[subprocess.Popen[str]]:
    """A live process holding ``folder``'s lock for the duration of the block (killed after)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=30)


def deny_writes_in(folder: Path, monkeypatch: pytest.MonkeyPatch, code: int = errno.EROFS) -> None:
    """Make creating or writing any file directly inside ``folder`` fail with ``code`` (EROFS:
    read-only file system; EPERM: an immutable folder)."""
    real_open = os.open
    target = folder.resolve()
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def guarded(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & writes and Path(os.path.abspath(path)).parent == target:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)
