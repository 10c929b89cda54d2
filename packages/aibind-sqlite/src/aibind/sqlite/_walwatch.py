"""Cross-process wake-ups for SQLite followers: Linux inotify on the database file and its WAL.

Another process's commit writes the ``-wal`` file (in WAL mode) or the database file itself
(rollback journal); inotify reports that write to this process at once, and the store's sweep
then runs its one cheap probe (``PRAGMA data_version``, then the followed streams' counters)
instead of waiting for the next ``poll_interval``. That takes cross-process delivery from about
half the poll interval (25 ms at the npm default of 50 ms) to well under a millisecond plus one
read.

inotify is read through the stdlib (:mod:`ctypes` for ``inotify_init1`` /
``inotify_add_watch``, the event loop's ``add_reader`` for the descriptor): ``watchfiles`` was
measured first and reports a change no sooner than its polling ``step`` (p50 2.1 ms with the
smallest step, through a thread), which alone would exceed the 2 ms target. Where inotify is
unavailable (macOS, Windows, an in-memory database, a remote client) nothing is watched and the
sweep runs every ``poll_interval`` as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable

__all__ = ["watch_database"]

_log = logging.getLogger("aibind.sqlite.watch")

_IN_MODIFY = 0x00000002
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = 0o2000000  # O_CLOEXEC on Linux
_RECHECK = 0.002
"""Seconds after the last write event to call ``on_change`` once more: the event comes with
the writer's ``write()`` of the WAL frames, a moment before it publishes the commit in the
shared WAL index, so a probe right at the event may still see the old version."""

_libc: ctypes.CDLL | None = None


def _inotify() -> ctypes.CDLL | None:
    global _libc
    if not sys.platform.startswith("linux"):
        return None
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


def watch_database(path: str, on_change: Callable[[], None]) -> Callable[[], None] | None:
    """Call ``on_change()`` (on the running event loop) whenever the SQLite database ``path``
    or its ``-wal`` file is written, by this process or another.

    Args:
        path: the database file (as ``PRAGMA database_list`` reports it).
        on_change: called once per batch of write events read together.

    Returns:
        the function that stops watching (idempotent), or ``None`` when the platform has no
        inotify or the files cannot be watched (the caller keeps polling).
    """
    libc = _inotify()
    if libc is None or not path:
        return None
    fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        return None
    watched = 0
    for name in (path, path + "-wal"):
        if os.path.exists(name) and libc.inotify_add_watch(fd, os.fsencode(name), _IN_MODIFY) >= 0:
            watched += 1
    if not watched:
        os.close(fd)
        return None
    loop = asyncio.get_running_loop()
    recheck: asyncio.TimerHandle | None = None

    def readable() -> None:
        nonlocal recheck
        try:
            while os.read(fd, 4096):  # drain; any event means "written"
                pass
        except BlockingIOError:
            pass
        except OSError as exc:  # the descriptor broke: stop, the interval still applies
            _log.debug("aibind sqlite watch stopped: %r", exc)
            stop()
            return
        on_change()
        if recheck is not None:
            recheck.cancel()
        recheck = loop.call_later(_RECHECK, on_change)

    loop.add_reader(fd, readable)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        if recheck is not None:
            recheck.cancel()
        with contextlib.suppress(Exception):
            loop.remove_reader(fd)
        os.close(fd)

    return stop
