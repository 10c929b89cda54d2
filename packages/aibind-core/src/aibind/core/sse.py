"""Server-sent events (SSE) for durable streams: how chunks are stored and how they are sent.

Wire format (byte-compatible with the npm ``@aibind/core`` ``DurableStream``/``SSE`` classes):

* A stored chunk is ``"{event}\\x01{data}"``; plain text has the event ``""``
  (:func:`encode_chunk`, :func:`decode_chunk`).
* A new stream starts with ``event: stream-id\\nid: <id>\\ndata: <id>\\n\\n``
  (:func:`format_stream_id`); a resume omits it.
* A plain chunk is ``id: <seq>\\n``, one ``data: <line>\\n`` per ``\\n``-separated line of the
  text, then ``\\n`` (:func:`format_text`).
* A named event is ``event: <name>\\n`` then its ``data:`` lines, then ``\\n``, without an id
  (:func:`format_event`). Unlike npm, data containing newlines is split into several ``data:``
  lines (npm writes it raw, which is malformed SSE); single-line data is byte-identical.
* The end is ``event: error\\ndata: <message>\\n\\n`` if the stream failed or
  ``event: stopped\\ndata: \\n\\n`` if it was stopped, then always ``event: done\\ndata: \\n\\n``
  (:func:`format_end`); note the space after ``data:`` even when the data is empty.

Lines are split on ``"\\n"`` only, as npm does: a ``"\\r"`` inside data is sent as is (the npm
client's parser keeps it; a browser ``EventSource`` would treat a lone
``"\\r"`` as a line break).

**The browser variant** (``event_ids=True``; not an npm format, used by ``aibind-starlette`` for
requests from a browser ``EventSource``): a named event also carries its seq,
``event: <name>\\nid: <seq>\\n`` then its ``data:`` lines, and the final ``done`` carries
``id: <total_chunks + 1>``. An ``EventSource`` reconnects with the last id it saw in its
``Last-Event-ID`` header, so with every message numbered that header says exactly what the
client has, named events and the end included; a server can then answer ``204 No Content``
(which makes ``EventSource`` stop reconnecting) once the header is past the last chunk of a
finished stream. :func:`format_retry` gives the ``retry:`` field that sets the reconnection delay
(SSE spec, https://html.spec.whatwg.org/multipage/server-sent-events.html).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from aibind.core.errors import CorruptDataError
from aibind.core.types import StreamChunk, StreamStatus

__all__ = [
    "READ_FAILED_MESSAGE",
    "SEPARATOR",
    "SSE_HEADERS",
    "decode_chunk",
    "encode_chunk",
    "format_chunk",
    "format_end",
    "format_event",
    "format_retry",
    "format_stream_id",
    "format_text",
    "iter_sse",
    "iter_sse_pages",
    "parse_last_event_id",
]

logger = logging.getLogger("aibind.core.sse")

T = TypeVar("T")

SEPARATOR = "\x01"
"""Separates a stored chunk's event name from its data (``"{event}\\x01{data}"``)."""

READ_FAILED_MESSAGE = "Stream read failed"
"""The ``event: error`` data sent when reading the store fails mid-response (npm's text)."""

SSE_HEADERS: dict[str, str] = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
"""Response headers for an SSE body: those of the npm ``DurableStream`` response (minus
``Connection: keep-alive``, a hop-by-hop header that HTTP/2 forbids; the server sets it), plus
``X-Accel-Buffering: no``, which tells nginx (and proxies that honour it) not to buffer the
response, so each message reaches the client as it is written."""


def _check_name(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if "\n" in value or "\r" in value or SEPARATOR in value:
        raise ValueError(f"{name} must not contain '\\n', '\\r' or '\\x01': {value!r}")
    return value


def encode_chunk(data: str, event: str = "") -> str:
    """Encode one item of a durable stream as the string the store keeps.

    Args:
        data: the text (any ``str``; newlines and ``"\\x01"`` are fine).
        event: the SSE event name, or ``""`` (default) for plain text.

    Returns:
        ``"{event}\\x01{data}"``, the npm ``DurableStream`` storage format.

    Raises:
        TypeError: ``data`` or ``event`` is not a ``str``.
        ValueError: ``event`` contains ``"\\n"``, ``"\\r"`` or ``"\\x01"``.
    """
    if not isinstance(data, str):
        raise TypeError(f"data must be a str, not {type(data).__name__}")
    return f"{_check_name(event, 'event')}{SEPARATOR}{data}"


def decode_chunk(stored: str) -> tuple[str, str]:
    """Split a stored chunk into ``(event, data)``, the inverse of :func:`encode_chunk`.

    The split is at the first ``"\\x01"``, so data may itself contain ``"\\x01"``. A stored
    string without any ``"\\x01"`` (appended to the store directly rather than through a
    ``DurableStream``) is plain text: ``("", stored)``.

    Returns:
        ``(event, data)``; ``event`` is ``""`` for plain text.
    """
    event, sep, data = stored.partition(SEPARATOR)
    if not sep:
        return "", stored
    return event, data


def _data_lines(data: str) -> str:
    return "".join(f"data: {line}\n" for line in data.split("\n"))


def format_text(seq: int | str, text: str) -> str:
    """Format a plain-text chunk: ``id: <seq>\\n``, a ``data: <line>\\n`` per line, ``\\n``.

    Args:
        seq: the chunk's sequence number (sent as the SSE ``id``).
        text: the chunk's text; ``""`` gives one empty ``data: `` line.

    Returns:
        the SSE message text (npm ``SSE.format(seq, text)``).
    """
    return f"id: {_check_name(str(seq), 'seq')}\n{_data_lines(text)}\n"


def format_event(event: str, data: str = "", *, event_id: int | str | None = None) -> str:
    """Format a named event: ``event: <event>\\n``, ``data:`` lines, ``\\n``; without an id
    unless ``event_id`` is given (then ``id: <event_id>\\n`` follows the event line).

    Args:
        event: the event name (no ``"\\n"``, ``"\\r"`` or ``"\\x01"``).
        data: the data; each ``\\n``-separated line gets its own ``data:`` line (npm writes
            multi-line data raw, which is malformed; single-line data is byte-identical).
        event_id: the SSE id to send (the browser variant, see the module docs); ``None``
            (default) sends none, as npm does.

    Returns:
        the SSE message text (npm ``SSE.formatEvent(event, data)`` when ``event_id`` is
        ``None``, npm ``SSE.format(event_id, data, event)`` otherwise).

    Raises:
        TypeError / ValueError: ``event`` is not a ``str`` or contains a line break, or
            ``event_id`` contains one.
    """
    id_line = "" if event_id is None else f"id: {_check_name(str(event_id), 'event_id')}\n"
    return f"event: {_check_name(event, 'event')}\n{id_line}{_data_lines(data)}\n"


def format_stream_id(stream_id: str) -> str:
    """Format the first message of a new stream: ``event: stream-id\\nid: <id>\\ndata: <id>\\n\\n``.

    Raises:
        TypeError / ValueError: ``stream_id`` is not a ``str`` or contains a line break.
    """
    _check_name(stream_id, "stream_id")
    return f"event: stream-id\nid: {stream_id}\ndata: {stream_id}\n\n"


def format_chunk(chunk: StreamChunk, *, event_ids: bool = False) -> str:
    """Format a stored chunk: a plain chunk with ``id: <seq>``, or a named event, without id
    (npm) or, with ``event_ids=True`` (the browser variant), with ``id: <seq>`` too.

    Raises:
        CorruptDataError: the stored event name contains a line break (it could not be sent
            without breaking the SSE framing).
    """
    event, data = decode_chunk(chunk.data)
    if not event:
        return format_text(chunk.seq, data)
    if "\n" in event or "\r" in event:
        raise CorruptDataError(f"chunk {chunk.seq}: event name {event!r} contains a line break")
    return format_event(event, data, event_id=chunk.seq if event_ids else None)


def format_end(status: StreamStatus | None, *, event_ids: bool = False) -> str:
    """Format the end of a response from the stream's final status.

    Args:
        status: the stream's status once its chunks are exhausted.
        event_ids: the browser variant: the ``done`` event of a terminal stream carries
            ``id: <total_chunks + 1>``, one past the last chunk, so a client reconnecting
            with it says it has received the end.

    Returns:
        ``event: error`` (with ``status.error``, or ``"Unknown error"`` when it is ``None``)
        if the stream failed, or ``event: stopped`` with empty data if it was stopped, followed
        in every case (``done``, still ``active``, or ``None`` for a vanished stream) by
        ``event: done\\ndata: \\n\\n``.
    """
    end = ""
    if status is not None and status.state == "error":
        end = format_event("error", status.error if status.error is not None else "Unknown error")
    elif status is not None and status.state == "stopped":
        end = format_event("stopped")
    end_id = None
    if event_ids and status is not None and status.is_terminal:
        end_id = status.total_chunks + 1
    return end + format_event("done", event_id=end_id)


def format_retry(seconds: float) -> str:
    """Format the SSE ``retry:`` field alone in a message: ``retry: <milliseconds>\\n\\n``.

    It sets how long a browser ``EventSource`` waits before it reconnects after the
    connection closes (SSE spec: the field's value is an integer number of milliseconds).

    Args:
        seconds: the reconnection delay, a finite number > 0 (rounded to whole milliseconds,
            at least 1).

    Returns:
        the SSE text; it dispatches no event.

    Raises:
        TypeError: ``seconds`` is not a real number.
        ValueError: it is not finite or not > 0.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"seconds must be a number, not {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be finite and > 0, not {seconds!r}")
    return f"retry: {max(1, round(seconds * 1000))}\n\n"


def iter_sse(
    chunks: AsyncIterable[StreamChunk],
    status: Callable[[], Awaitable[StreamStatus | None]],
    *,
    stream_id: str | None = None,
    event_ids: bool = False,
) -> AsyncIterator[str]:
    """Turn a stream's chunks into SSE text, one message per item, as npm's ``DurableStream``.

    Yields the stream-id message first when ``stream_id`` is given (a new stream; omit it for
    a resume), then one message per chunk (:func:`format_chunk`), then, once ``chunks`` is
    exhausted, the end messages (:func:`format_end`) for the status ``await status()`` returns.

    Once a response has started its HTTP status cannot change, so an :class:`Exception` raised
    while reading ``chunks`` or ``status`` (an expired stream, an unknown one, a lost
    connection) does not propagate: it is logged (logger ``aibind.core.sse``, with traceback)
    and the text ends with ``event: error`` / ``data: Stream read failed`` and ``event: done``,
    as npm does. Check ``await store.get_status(id) is not None`` first to answer 404 instead.
    Cancellation propagates. ``chunks`` is closed (``aclose()``) when this iterator ends or is
    closed, so a store subscription behind it is released.

    Args:
        chunks: the chunks to send, in order (typically ``store.read_from(id, after_seq)``).
        status: called once after ``chunks`` is exhausted; returns the final status.
        stream_id: the stream's id, to announce it first (new streams only).
        event_ids: the browser variant (see the module docs): named events carry their seq
            as id and the final ``done`` carries ``total_chunks + 1``. The read-failure end
            carries no id, so a browser reconnects and asks again.

    Yields:
        SSE message texts (``str``), each ending with a blank line.
    """
    return _sse(aiter(chunks), _one_chunk, status, stream_id, event_ids)


def iter_sse_pages(
    pages: AsyncIterable[Sequence[StreamChunk]],
    status: Callable[[], Awaitable[StreamStatus | None]],
    *,
    stream_id: str | None = None,
    event_ids: bool = False,
) -> AsyncIterator[str]:
    """:func:`iter_sse` for pages of chunks (typically ``store.read_pages(id, after_seq)``):
    the same bytes, rules and errors, but one text per page, holding the messages of all its
    chunks, so a replay of 10,000 chunks is a few large writes instead of 10,000 small ones.

    If a chunk of a page cannot be formatted (a stored event name with a line break), the
    messages of the chunks before it are sent, then the read-failure end, as :func:`iter_sse`
    would.

    Yields:
        SSE texts (``str``): the stream-id message, one text per page (several messages), and
        the end messages; each ends with a blank line.
    """
    return _sse(aiter(pages), _page_of_chunks, status, stream_id, event_ids)


def _one_chunk(chunk: StreamChunk, event_ids: bool, out: list[str]) -> None:
    out.append(format_chunk(chunk, event_ids=event_ids))


def _page_of_chunks(page: Sequence[StreamChunk], event_ids: bool, out: list[str]) -> None:
    for chunk in page:
        out.append(format_chunk(chunk, event_ids=event_ids))


async def _sse(
    iterator: AsyncIterator[T],
    render: Callable[[T, bool, list[str]], None],
    status: Callable[[], Awaitable[StreamStatus | None]],
    stream_id: str | None,
    event_ids: bool,
) -> AsyncIterator[str]:
    """The text of :func:`iter_sse` / :func:`iter_sse_pages`: ``render`` appends the messages
    of one item to a list, which becomes one text."""
    if stream_id is not None:
        yield format_stream_id(stream_id)
    made: list[str] = []
    try:
        try:
            async for item in iterator:
                render(item, event_ids, made)
                text = "".join(made)  # one message: that same str, not a copy
                made.clear()
                yield text
            final = await status()
        except Exception:
            logger.warning(
                "reading a stream for SSE failed; ending with event: error", exc_info=True
            )
            if made:  # the messages of a page formatted before the failure
                yield "".join(made)
            yield format_event("error", READ_FAILED_MESSAGE) + format_event("done")
            return
        yield format_end(final, event_ids=event_ids)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def parse_last_event_id(value: str | None) -> int:
    """Turn a reconnecting client's ``Last-Event-ID`` header into an ``after_seq``.

    Plain chunks carry their seq as the SSE id; the stream-id message carries the stream id.

    Args:
        value: the header value, or ``None`` when absent.

    Returns:
        the seq it names, or ``0`` (replay from the start) when it is absent, empty, the
        stream id, or anything but a non-negative decimal integer.
    """
    if value is None:
        return 0
    value = value.strip()
    if value.isascii() and value.isdigit():
        return int(value)
    return 0
