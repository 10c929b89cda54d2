"""One lifecycle for every store: lazy or eager opening, idempotent closing, ownership of the
clients a store opened itself.

A store built from a client the caller passed in never closes that client. A store built by
``from_url`` (or the registry's ``open_stores``) holds an :class:`Owned` client: opened on the
store's first use (or by ``async with`` / ``await store.open()``) and closed when the last store
holding it is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from aibind.core.errors import AibindError, StoreClosedError

if TYPE_CHECKING:
    from aibind.core.kit._open import ClientOpener
    from aibind.core.kit._options import Parser

__all__ = ["Owned", "StoreBase"]

C = TypeVar("C")
T = TypeVar("T")
S = TypeVar("S", bound="StoreBase")

_NEW, _OPEN, _CLOSED = 0, 1, 2


class Owned(Generic[C]):
    """A client this library opened and therefore closes, shared by the stores built on it.

    Reference-counted: :meth:`share` adds a holder, :meth:`release` drops one, and the client is
    closed when the last holder releases it. Opening runs once, however many holders ask.

    Args:
        client: the client object the stores use (it may connect lazily itself).
        open: awaited once, on the first :meth:`open` (``None``: nothing to do).
        close: awaited once, when the last holder releases the client.
    """

    __slots__ = ("_close", "_lock", "_open", "_opened", "_refs", "client")

    def __init__(
        self,
        client: C,
        *,
        open: Callable[[], Awaitable[None]] | None = None,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.client = client
        self._open = open
        self._close: Callable[[], Awaitable[None]] | None = close
        self._opened = open is None
        self._refs = 1
        self._lock: asyncio.Lock | None = None

    def share(self) -> Owned[C]:
        """Add a holder and return ``self`` (give it to the second store of a pair)."""
        self._refs += 1
        return self

    async def open(self) -> None:
        """Open the client if not yet open (once; concurrent callers wait for the first).

        Raises:
            Exception: whatever the ``open`` callable raises (the store translates it); a
                later call tries again.
        """
        if self._opened:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._opened and self._open is not None:
                await self._open()
                self._opened = True

    async def release(self) -> None:
        """Drop one holder; the last one closes the client (errors while closing propagate)."""
        self._refs -= 1
        if self._refs > 0:
            return
        close, self._close = self._close, None
        if close is not None:
            await close()


class StoreBase:
    """The lifecycle shared by every aibind store (streams and conversations, every backend).

    * Opened lazily by the first call that needs the backend, or eagerly by ``await
      store.open()`` / ``async with store:`` (which surfaces an unreachable server at once).
    * :meth:`aclose` is idempotent, closes only what the store opened (an :class:`Owned`
      client, push connections, sweeper tasks) and never a client the caller passed in; later
      calls raise :class:`~aibind.core.errors.StoreClosedError`.
    * An async context manager: ``async with X.from_url(url) as store: ...``.

    Backends override :meth:`_open` and :meth:`_close` (both default to nothing) and call
    :meth:`_ready` at the start of every operation (cheap once open).
    """

    _owned: Owned[Any] | None = None
    _state: int = _NEW
    _open_lock: asyncio.Lock | None = None

    _client_opener: ClassVar[ClientOpener | None] = None
    """How ``from_url`` opens this backend's client (set by the backend)."""
    _url_options: ClassVar[Mapping[str, Parser]] = {}
    """Constructor options this store accepts as URL query parameters, with their parsers."""

    @classmethod
    def from_url(cls: type[S], url: str, **options: Any) -> S:
        """A store on a client opened from ``url``; the store owns that client and closes it in
        :meth:`aclose`. Nothing connects until the first call, ``await store.open()`` or
        ``async with``::

            async with Store.from_url("scheme://...?ttl=600") as store:
                ...

        Args:
            url: the backend URL. Query parameters set store and client options by name
                (``?ttl=600&poll_interval=0.1``), the same names on every backend.
            options: the same options as keywords (they win over the URL): the constructor's,
                plus the client's (pool size, timeouts; see the backend's docs).

        Raises:
            TypeError: an unknown keyword option.
            ValueError: an unknown or malformed URL option, or a malformed URL.
            MissingDriverError: the backend's driver is not installed.
        """
        from aibind.core.kit._open import store_from_url

        return store_from_url(cls, url, options)

    @classmethod
    def _from_client(cls: type[S], client: Any, options: Mapping[str, Any]) -> S:
        """Construct the store on ``client`` (``from_url``'s last step); override when the
        constructor does not take the client as its first argument."""
        return cls(client, **options)  # type: ignore[call-arg]

    def _adopt(self, owned: Owned[Any]) -> None:
        """Make the store a holder of ``owned`` (the client ``from_url`` opened for it)."""
        self._owned = owned

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`aclose` has been called."""
        return self._state == _CLOSED

    def _check_open(self) -> None:
        if self._state == _CLOSED:
            raise StoreClosedError(f"this {type(self).__name__} has been closed")

    async def _ready(self) -> None:
        """Open the store if it is not open yet; raise if it was closed."""
        if self._state != _OPEN:
            await self.open()

    async def open(self: S) -> S:
        """Open the store now (connect, check the backend answers) and return it; a no-op if
        already open. Concurrent callers wait for one opening.

        Raises:
            StoreClosedError: the store was closed.
            BackendUnavailableError: the backend cannot be reached (a later call retries).
            MissingDriverError: the driver is not installed.
        """
        if self._state == _OPEN:
            return self
        self._check_open()
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            self._check_open()
            if self._state == _NEW:
                try:
                    if self._owned is not None:
                        await self._owned.open()
                    await self._open()
                except AibindError:
                    raise
                except Exception as exc:
                    raise self._translate(exc) from exc
                self._state = _OPEN
        return self

    async def _open(self) -> None:
        """Backend hook: open what the store itself needs (after its owned client opened)."""

    async def _close(self) -> None:
        """Backend hook: release what the store itself opened (before its owned client)."""

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """Await a backend call, translating driver errors with :meth:`_translate`."""
        try:
            return await awaitable
        except AibindError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> AibindError:
        """Backend hook: the :mod:`aibind.core.errors` exception to raise (``from exc``) for a
        driver exception. The default wraps it in a :class:`~aibind.core.errors.BackendError`
        that names its type."""
        from aibind.core.kit._errors import backend_error

        return backend_error(exc)

    async def aclose(self) -> None:
        """Close the store: stop its push connection and background tasks, and close the client
        if the store opened it (``from_url``); a client passed in stays open. Idempotent; later
        calls raise :class:`~aibind.core.errors.StoreClosedError`. Leaves no task or thread
        behind."""
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        owned, self._owned = self._owned, None
        try:
            await self._close()
        finally:
            if owned is not None:
                await owned.release()

    async def __aenter__(self: S) -> S:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
