"""Learning that the server is shutting down, before it waits for open responses.

On SIGTERM/SIGINT, uvicorn (and gunicorn's uvicorn worker, hypercorn...) stops accepting
connections, then waits for every open response to finish before it runs the lifespan
shutdown. An SSE response that follows a running generation finishes only when the generation
does, so without a signal of its own the handler would learn of the shutdown only after every
answer had ended, or been cut by a SIGKILL. Servers install their handler with
``signal.signal`` before the lifespan starts; we chain ours in front of it (it calls the
server's afterwards) and restore it when the lifespan ends. A signal left at its default
(``SIG_DFL``) or ignored (``SIG_IGN``) is left alone: we never change what a signal does to a
process that has not asked for it to be handled.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType

__all__ = ["chain_signal_handlers"]


def chain_signal_handlers(
    signals: Iterable[int], callback: Callable[[], None]
) -> Callable[[], None]:
    """Call ``callback()`` first whenever one of ``signals`` arrives, then the handler that was
    installed before. Only in the main thread (where Python runs signal handlers), and only
    for signals that already have a Python handler.

    Args:
        signals: signal numbers (``signal.SIGTERM``...).
        callback: runs in the main thread, inside the signal handler: keep it short and
            thread-safe (``loop.call_soon_threadsafe(...)``).

    Returns:
        a function that restores the previous handlers (where ours is still installed).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    installed: dict[int, tuple[Callable[[int, FrameType | None], object], object]] = {}
    for sig in signals:
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(
            signum: int,
            frame: FrameType | None,
            previous: Callable[[int, FrameType | None], object] = previous,
        ) -> None:
            try:
                callback()
            finally:
                previous(signum, frame)

        signal.signal(sig, handler)
        installed[sig] = (handler, previous)

    def restore() -> None:
        for sig, (handler, previous) in installed.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)  # type: ignore[arg-type]
        installed.clear()

    return restore
