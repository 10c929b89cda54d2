"""``HistoryCache``: the histories a conversation store saved last, by storage key, so that
loading text it wrote itself skips parsing and validating it again.

A load still reads the backend every time: the cache is asked only with the text just read,
and answers only when that text equals, character for character, the text this store last
saved under the key (another writer's text, an expired or deleted history, or a save that
failed never match). Equal text parses to an equal tree, so the answer is a new tree made from
the saved one's nodes (shared and copied on write, see :class:`~aibind.core._tree_share.
TreeShare`), in microseconds where parsing 100 KB takes a third of a millisecond.
"""

from __future__ import annotations

from aibind.core._tree_share import TreeShare

__all__ = ["HistoryCache"]


class HistoryCache:
    """The last saved ``(text, tree share)`` per storage key, least recently used evicted
    first once the texts kept exceed ``limit`` characters in all.

    Args:
        limit: characters of text kept in all (``0`` keeps nothing); a text longer than this
            is not kept. An entry takes about six times its text in memory (see
            ``ConversationStoreBase.cache_chars``).

    Raises:
        TypeError, ValueError: ``limit`` is not an ``int`` >= 0.
    """

    __slots__ = ("_entries", "_kept", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = 0
        self._entries: dict[str, tuple[str, TreeShare]] = {}
        self._kept = 0
        self.resize(limit)

    def resize(self, limit: int) -> None:
        """Keep at most ``limit`` characters from now on (evicting at once).

        Raises:
            TypeError, ValueError: ``limit`` is not an ``int`` >= 0.
        """
        if type(limit) is not int:
            raise TypeError(f"the cache limit must be an int, not {type(limit).__name__}")
        if limit < 0:
            raise ValueError(f"the cache limit must be >= 0, not {limit}")
        self.limit = limit
        self._evict()

    def _evict(self) -> None:
        entries = self._entries
        while self._kept > self.limit:
            oldest = next(iter(entries))
            self._kept -= len(entries.pop(oldest)[0])

    def remember(self, key: str, text: str, share: TreeShare) -> None:
        """Keep ``share`` as the tree that ``text``, just saved under ``key``, stands for."""
        self.forget(key)
        if len(text) > self.limit:
            return
        self._entries[key] = (text, share)
        self._kept += len(text)
        self._evict()

    def recall(self, key: str, text: str) -> TreeShare | None:
        """The tree saved as ``text`` under ``key``, or ``None`` when the last text saved
        there differs (or none is kept, or a caller changed one of its messages in place)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != text:
            return None
        if not entry[1].intact():
            self.forget(key)
            return None
        del self._entries[key]  # most recently used: to the end
        self._entries[key] = entry
        return entry[1]

    def forget(self, key: str) -> None:
        """Drop what is kept under ``key`` (a no-op if nothing is)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._kept -= len(entry[0])
