"""The files enhance writes: atomic replacement, its own temporary names, stale-temp cleanup, and
the lock that keeps one enhance command at a time writing into an output folder.

Every file enhance writes (images, ``manifest.json``, reports, picked copies and links, downloaded
models) goes through :func:`atomic_output` or :func:`atomic_symlink`: the content is written to a
temporary file in the destination's own folder (same file system, so the rename is atomic),
synced, and renamed over the destination. Readers see the old file or the new one, never a
partial one; an error or Ctrl-C removes the temporary file and leaves the destination as it was.

Temporary names are fixed-length and never derived from the destination's name, so a destination
whose name is already at the file system's limit (255 bytes) can still be written:
``.enhance-tmp-<32 lowercase hex>``, optionally followed by the destination's suffix when the
writer needs it (a model file is validated by its suffix before it is kept). Only names matching
exactly that pattern (:func:`is_temp_name`) are ever removed as stale, and only by a command
holding the output folder's lock, so a file of the user's that merely contains ``.enhance-tmp``
(``holiday.enhance-tmp.png``) and another command's in-flight temporary file are never touched.

The folder lock (:func:`lock_folder`) is an exclusive, non-blocking ``flock`` on
``FOLDER/.enhance.lock``: a second command on the same folder is refused at once with a message
naming the holder, and the lock goes with the process, however it ends (a SIGKILL included).

Standard library only: this is the base layer every writer builds on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "TEMP_MARKER",
    "LOCK_NAME",
    "DEFAULT_NAME_MAX",
    "DEFAULT_PATH_MAX",
    "check_path",
    "path_max",
    "FolderLock",
    "atomic_output",
    "atomic_symlink",
    "atomic_write_bytes",
    "atomic_write_text",
    "is_temp_name",
    "lock_folder",
    "name_bytes",
    "name_max",
    "remove_stale_temps",
]

#: every temporary file enhance writes is named ``TEMP_MARKER + "-" + 32 hex digits`` (+ a suffix)
TEMP_MARKER = ".enhance-tmp"
#: the lock file of an output folder (hidden; present only while a command holds the folder)
LOCK_NAME = ".enhance.lock"
#: the longest file name in bytes where the file system does not say (Linux, macOS, Windows: 255)
DEFAULT_NAME_MAX = 255
#: PATH_MAX where the system cannot say (Linux's)
DEFAULT_PATH_MAX = 4096

_TEMP_NAME = re.compile(re.escape(TEMP_MARKER) + r"-[0-9a-f]{32}(?:\.[A-Za-z0-9]{1,16})?")
_TEMP_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,16}")


# -- temporary names ---------------------------------------------------------------------------


def is_temp_name(name: str) -> bool:
    """True when ``name`` is exactly an enhance temporary file's name (see the module docs)."""
    return _TEMP_NAME.fullmatch(name) is not None


def _temp_name(suffix: str = "") -> str:
    if suffix and not _TEMP_SUFFIX.fullmatch(suffix):
        suffix = ""  # a suffix no temp name may carry: the writer gets none rather than a wrong one
    return f"{TEMP_MARKER}-{secrets.token_hex(16)}{suffix}"


def _new_temp(folder: Path, suffix: str = "") -> Path:
    """Create a new, empty temporary file in ``folder`` (O_EXCL: never someone else's file)."""
    while True:
        temp = folder / _temp_name(suffix)
        try:
            # mode 0o666: the umask decides, as for any new file
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666))
            return temp
        except FileExistsError:
            continue


def name_bytes(name: str) -> int:
    """The length of a file name as the file system counts it (bytes, not characters)."""
    return len(os.fsencode(name))


def name_max(folder: str | os.PathLike[str]) -> int:
    """The longest file name (bytes) the file system of ``folder`` (or its nearest existing
    ancestor) accepts; :data:`DEFAULT_NAME_MAX` where it cannot tell."""
    path = Path(os.path.abspath(folder))
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            try:
                return int(os.pathconf(candidate, "PC_NAME_MAX"))
            except (OSError, ValueError, AttributeError):
                return DEFAULT_NAME_MAX
    return DEFAULT_NAME_MAX


# -- atomic writes -----------------------------------------------------------------------------


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every system can sync a folder)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a new temporary file beside ``path`` to write; on success it is synced and renamed over
    ``path``, so readers see the old file or the new one, never a partial one.

    On any error in the block (Ctrl-C included) the temporary file is removed and ``path`` is left
    as it was. Parent folders are created. An existing ``path`` that is a symlink is replaced, never
    written through.

    Args:
        keep_suffix: end the temporary name with ``path``'s suffix (for writers that check the
            file by its type before it is kept).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _new_temp(path.parent, path.suffix if keep_suffix else "")
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8", newline: str = "") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`); newlines are written as
    given unless ``newline`` says otherwise (as for :func:`open`)."""
    with atomic_output(path) as temp, open(temp, "w", encoding=encoding, newline=newline) as handle:
        handle.write(text)


def atomic_symlink(target: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Make ``path`` a symbolic link to ``target`` in one rename: an existing file or link at
    ``path`` is swapped for the link, never written through."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temp = path.parent / _temp_name()
        try:
            os.symlink(target, temp)
            break
        except FileExistsError:
            continue
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)


# -- the folder lock ---------------------------------------------------------------------------

_held: dict[Path, FolderLock] = {}
_held_guard = threading.Lock()


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; False when another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: a byte-range lock on the first byte
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


class FolderLock:
    """An output folder held by this process; :meth:`release` (or leaving the ``with`` block) lets
    it go, removes the lock file and any folder the lock created that is still empty."""

    def __init__(self, folder: Path, fd: int, created: list[Path]) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = fd
        self._created = created

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let the folder go (idempotent)."""
        if self._fd is None:
            return
        with _held_guard:
            _held.pop(_key(self.folder), None)
        # unlinked while still locked: a command that opened this file now finds it gone when it
        # gets the lock, and retries on a new one (see lock_folder)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None
        for folder in reversed(self._created):  # deepest first; only while still empty
            try:
                os.rmdir(folder)
            except OSError:
                break

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a lock never outlives the object holding it
        if getattr(self, "_fd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # type: ignore[arg-type]


def _key(folder: Path) -> Path:
    return Path(os.path.realpath(folder))


def path_max() -> int:
    """The longest path the system takes, in bytes with the final NUL (PATH_MAX; 4096 where it
    cannot tell)."""
    try:
        return int(os.pathconf("/", "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_PATH_MAX


def check_path(folder: Path, flag: str = "-o") -> None:
    """Refuse a path past PATH_MAX or with a component past NAME_MAX, in one line, before any use
    (the system's own error would come later, and as an internal error).

    Raises:
        ConfigError: the path or one of its names is too long, or holds a NUL byte.
    """
    raw = os.fsencode(os.path.abspath(folder)) if "\x00" not in str(folder) else None
    if raw is None:
        raise ConfigError(f"{flag} {folder}: a path cannot hold a NUL byte; choose another {flag}")
    if len(raw) >= path_max():
        raise ConfigError(
            f"{flag} {folder}: the path is {len(raw)} bytes, over the system's limit of {path_max() - 1}; "
            f"choose a shorter {flag}"
        )
    longest = max(raw.split(b"/"), key=len)
    if len(longest) > DEFAULT_NAME_MAX:
        raise ConfigError(
            f"{flag} {folder}: a name in the path is {len(longest)} bytes, over the file system's limit of "
            f"{DEFAULT_NAME_MAX}; choose another {flag}"
        )


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created (outermost first)."""
    check_path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"-o {folder}: exists and is not a folder; choose another -o")
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"-o {folder}: cannot create the output folder ({exc.strerror or exc}); choose another -o"
        ) from None
    return list(reversed(missing))


def _holder(fd: int) -> str:
    """What the lock file says about its holder: ``pid N, started T`` (or ``pid unknown``)."""
    try:
        raw = os.pread(fd, 4096, 0) if hasattr(os, "pread") else b""
        info = json.loads(raw.decode("ascii"))
        return f"pid {int(info['pid'])}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


def _unwritable(folder: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"-o {folder}: cannot write into the output folder ({exc.strerror or exc}); "
        "make it writable or choose another -o"
    )


def lock_folder(folder: str | os.PathLike[str], command: str = "enhance") -> FolderLock:
    """Hold ``folder`` (created if needed) for one writer: this process, until released.

    Taking the lock is the command's first write into the folder, so a folder that cannot be
    created or written (read-only, immutable, full) is refused here, before any image is read.

    Args:
        command: what holds it (``enhance run``...), written into the lock file for people.

    Raises:
        ConfigError: ``folder`` is a file, cannot be created or written, or another enhance
            command (or another thread of this one) holds it; the message says which.
    """
    folder = Path(folder)
    created = _make_folders(folder)
    path = folder / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    lock: FolderLock | None = None
    try:
        while True:
            try:
                fd = os.open(path, flags, 0o666)
            except OSError as exc:
                raise _unwritable(folder, exc) from None
            if not _try_lock(fd):
                holder = _holder(fd)
                os.close(fd)
                raise ConfigError(
                    f"-o {folder}: another enhance command ({holder}) is writing into this folder; "
                    "wait for it to finish or choose another -o"
                )
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder we waited on removed this file as it let go: lock the new one
        lock = FolderLock(folder, fd, created)
        info = {
            "pid": os.getpid(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command,
            "argv": sys.argv,
        }
        try:
            data = (json.dumps(info, ensure_ascii=True) + "\n").encode("ascii")
            os.ftruncate(fd, 0)
            os.write(fd, data)
            # a probe: the lock file may predate a folder made read-only or immutable since
            os.unlink(_new_temp(folder))
        except OSError as exc:
            raise _unwritable(folder, exc) from None
    except BaseException:
        if lock is not None:
            lock.release()
        else:
            for made in reversed(created):
                with contextlib.suppress(OSError):
                    os.rmdir(made)
        raise
    with _held_guard:
        _held[_key(folder)] = lock
    return lock


def _held_here(folder: Path) -> bool:
    """True when this process holds the lock of ``folder`` or of a folder above it."""
    key = _key(folder)
    with _held_guard:
        return any(key == held or key.is_relative_to(held) for held in _held)


def _held_elsewhere(folder: Path) -> bool:
    """True when another command holds ``folder``'s lock (its lock file exists and cannot be
    taken); never for a folder this process holds."""
    path = folder / LOCK_NAME
    if _key(folder) in _held or not os.path.lexists(path):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)  # closing lets go of the probe's lock at once


# -- stale temporary files ---------------------------------------------------------------------


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files an interrupted command left under ``folder`` (recursively);
    return them.

    Only enhance's own temporary names (:func:`is_temp_name`) go, and only regular files and
    symlinks (a link is removed, never followed; a folder is never removed). It runs under the
    folder's lock: when this process does not hold it (or a folder above it) it takes it for the
    cleanup. Sub-folders another enhance command holds are left alone, and so is all of
    ``folder`` when a folder above it is held by another command.

    Raises:
        ConfigError: another enhance command holds ``folder``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    if not _held_here(folder):
        with lock_folder(folder, "enhance (temp cleanup)"):
            return _remove_temps(folder)
    return _remove_temps(folder)


def _remove_temps(folder: Path) -> list[Path]:
    if any(_held_elsewhere(parent) for parent in _key(folder).parents):
        return []  # a command writing into a folder above owns these temps: leave them
    removed: list[Path] = []
    for root, dirs, files in os.walk(folder):  # never follows a symlinked folder
        here = Path(root)
        for name in [*files, *dirs]:
            if not is_temp_name(name):
                continue
            temp = here / name
            try:
                mode = os.lstat(temp).st_mode
                if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                    os.unlink(temp)
                    removed.append(temp)
            except FileNotFoundError:
                continue
        dirs[:] = [d for d in dirs if not is_temp_name(d) and not _held_elsewhere(here / d)]
    return removed
