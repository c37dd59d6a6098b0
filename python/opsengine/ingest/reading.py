"""Reading log text in blocks of whole lines: plain or gzip files, or stdin, as Arrow arrays.

Lines are split by Arrow compute, not a Python loop; bytes that are not UTF-8
are replaced (U+FFFD), so every line is kept.
"""

from __future__ import annotations

import gzip
import hashlib
import select
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

BLOCK_BYTES = 4 << 20
HEAD_BYTES = 4096
GZIP_MAGIC = b"\x1f\x8b"


class CorruptInputError(ValueError):
    """The input cannot be read further (e.g. a damaged gzip stream)."""


@dataclass
class Block:
    lines: pa.Array  # string
    nbytes: int  # content bytes this block covers (including newlines)


def open_content(path: Path) -> BinaryIO:
    """The file's content as a binary stream, decompressing gzip by its magic bytes."""
    f = path.open("rb")
    magic = f.read(2)
    f.seek(0)
    if magic == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def split_lines(data: bytes) -> pa.Array:
    """Lines of ``data`` (which ends at a line boundary or is the final tail) as a string array."""
    if not data:
        return pa.array([], pa.string())
    text = data.decode("utf-8", errors="replace")
    if text.endswith("\n"):
        text = text[:-1]
    parts = pc.split_pattern(pa.array([text], pa.large_string()), "\n")
    lines = pc.list_flatten(parts)
    # Windows line endings: the \r belongs to the terminator, not the line.
    lines = pc.utf8_rtrim(lines, "\r")
    return lines.cast(pa.string()) if len(text) < (1 << 31) - 1 else lines


def _read_live(stream: BinaryIO, block_bytes: int, linger: float) -> bytes:
    """Up to ``block_bytes`` from a pipe: what arrives within ``linger`` seconds of the first
    byte, so a slow writer's lines are stored promptly and a fast one still fills blocks."""
    parts: list[bytes] = []
    size = 0
    deadline = None
    while size < block_bytes:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([stream], [], [], timeout)
        if not ready:
            break
        chunk = stream.read1(block_bytes - size)  # type: ignore[attr-defined]
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if deadline is None:
            deadline = time.monotonic() + linger
    return b"".join(parts)


def read_blocks(
    stream: BinaryIO,
    hasher: hashlib._Hash | None = None,
    block_bytes: int = BLOCK_BYTES,
    *,
    live: bool = False,
    linger: float = 0.25,
) -> Iterator[Block]:
    """Blocks of whole lines from ``stream``; ``hasher`` sees every content byte in order.
    ``live``: the stream is a pipe or socket, read as data arrives (see ``_read_live``)."""
    carry = b""
    while True:
        try:
            chunk = _read_live(stream, block_bytes, linger) if live else stream.read(block_bytes)
        except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as e:
            raise CorruptInputError(str(e) or type(e).__name__) from None
        if not chunk:
            break
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        body, carry = data[: cut + 1], data[cut + 1 :]
        if hasher is not None:
            hasher.update(body)
        yield Block(split_lines(body), len(body))
    if carry:
        if hasher is not None:
            hasher.update(carry)
        yield Block(split_lines(carry), len(carry))


def skip_prefix(stream: BinaryIO, nbytes: int, hasher: hashlib._Hash) -> bool:
    """Read and hash exactly ``nbytes`` of content; False if the stream ends first."""
    left = nbytes
    while left > 0:
        try:
            chunk = stream.read(min(left, BLOCK_BYTES))
        except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as e:
            raise CorruptInputError(str(e) or type(e).__name__) from None
        if not chunk:
            return False
        hasher.update(chunk)
        left -= len(chunk)
    return True
