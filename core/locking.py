"""One writer per folder: a lock file that names its owner and dies with it.

A dataset build and a training run each hold the lock of the folder they write (``--out``) for as long as they
write. The lock is an advisory ``flock`` on ``FOLDER/.patchflow.lock``: the kernel releases it when its process ends,
however it ends, so a lock left by a killed process is recognised as stale and taken over. The file records the
owner's pid, host, command and start time, so a refused writer can say who holds the folder.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import PatchflowError

#: Name of the lock file inside the locked folder.
LOCK_NAME = ".patchflow.lock"


class FolderLockedError(PatchflowError):
    """Another process is writing the folder."""


def _describe(owner: dict[str, Any]) -> str:
    if not owner:
        return "an unknown process"
    started = owner.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return f"process {owner.get('pid', '?')} on {owner.get('host', '?')} ({owner.get('command', '?')}, since {when})"


def _read_owner(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        owner = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


class FolderLock:
    """The exclusive right to write ``folder`` (use as a context manager, or :meth:`acquire` / :meth:`release`).

    Args:
        folder: The folder to lock; created (with its parents) when missing, and removed again on release if it
            was created here and is still empty.
        what: What the folder is, for messages (``store``, ``run directory``).

    Attributes:
        stale_owner: The record left by a previous owner that ended without releasing the lock (killed, crashed),
            or ``None``. The lock was taken over; the caller may say so.
    """

    def __init__(self, folder: str | Path, what: str = "folder") -> None:
        self.folder = Path(folder)
        self.what = what
        self.stale_owner: dict[str, Any] | None = None
        self._fd: int | None = None
        self._created = False

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.folder / LOCK_NAME

    def acquire(self) -> "FolderLock":
        """Take the lock.

        Raises:
            FolderLockedError: Another live process holds it.
            PatchflowError: The folder cannot be created or written (read-only, not a folder).
        """
        if self._fd is not None:
            return self
        if self.folder.exists() and not self.folder.is_dir():
            raise PatchflowError(f"{self.folder} is a file, not a folder; choose another --out")
        try:
            if not self.folder.exists():
                self.folder.mkdir(parents=True)
                self._created = True
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    owner = _read_owner(fd)
                    os.close(fd)
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise FolderLockedError(
                            f"{self.folder}: this {self.what} is being written by {_describe(owner)}; wait for it "
                            f"to finish or stop it, or choose another --out") from None
                    raise
                # The previous owner may have removed the file between our open and our flock: retry on the new one.
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
        except PermissionError as exc:
            raise PatchflowError(f"{self.folder}: cannot write here ({exc.strerror}); choose another --out") from None
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
                raise PatchflowError(f"{self.folder}: cannot write here ({exc.strerror}); choose another --out") \
                    from None
            raise
        previous = _read_owner(fd)
        self.stale_owner = previous or None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv[:3]) or "python",
                  "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return self

    def describe_stale(self) -> str | None:
        """A line saying that a stale lock was taken over, or ``None``."""
        if self.stale_owner is None:
            return None
        return (f"{self.folder}: took over the lock left by {_describe(self.stale_owner)}, which ended without "
                f"releasing it")

    def release(self) -> None:
        """Give the lock up (and remove the folder if this lock created it and nothing was written)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None
        if self._created:
            try:
                self.folder.rmdir()  # only succeeds when empty
            except OSError:
                pass

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
