"""A strict SSE parser with the npm client's rules, for the tests only.

It is the oracle the tests check our SSE bytes against; the library itself ships no SSE
client (applications use their HTTP client's, e.g. httpx-sse).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEMessage:
    """One parsed SSE message (npm ``SSEMessage``).

    Attributes:
        id: the ``id:`` field, or ``""``.
        event: the ``event:`` field, or ``""``.
        data: the ``data:`` lines joined with ``"\\n"``.
    """

    id: str
    event: str
    data: str

    @property
    def seq(self) -> int | None:
        """The chunk seq this message carries (a plain chunk's id), else ``None``."""
        if not self.event and self.id.isascii() and self.id.isdigit():
            return int(self.id)
        return None


def _parse_block(block: str) -> SSEMessage | None:
    msg_id = event = ""
    data: list[str] = []
    for line in block.split("\n"):
        field, colon, value = line.partition(":")
        if not colon:
            continue
        if value.startswith(" "):
            value = value[1:]
        if field == "id":
            msg_id = value
        elif field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if not msg_id and not event and not data:
        return None
    return SSEMessage(msg_id, event, "\n".join(data))


class SSEDecoder:
    """Incremental SSE parser with the npm client's rules (``SSE.consume``): messages end at a
    blank line, lines are split on ``"\\n"``, one space after the colon is stripped, ``data:``
    lines are joined with ``"\\n"``, and blocks with no id, event or data are skipped.

    Feed it text as it arrives (pieces may split a message anywhere)::

        decoder = SSEDecoder()
        async for text in response.aiter_text():
            for message in decoder.feed(text):
                ...
        decoder.close()   # a final message without its blank line
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[SSEMessage]:
        """Add ``text`` and return the messages it completed, in order."""
        self._buffer += text
        *blocks, self._buffer = self._buffer.split("\n\n")
        return [m for m in map(_parse_block, blocks) if m is not None]

    def close(self) -> list[SSEMessage]:
        """Return the message left in the buffer without a closing blank line (if any), and
        empty the buffer."""
        rest, self._buffer = self._buffer, ""
        message = _parse_block(rest) if rest.strip() else None
        return [message] if message is not None else []


def parse_sse(text: str) -> list[SSEMessage]:
    """Parse a whole SSE body (see :class:`SSEDecoder` for the rules).

    Returns:
        its messages, in order.
    """
    decoder = SSEDecoder()
    return decoder.feed(text) + decoder.close()
