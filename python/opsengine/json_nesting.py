"""How deeply a JSON body nests, measured before any parser sees it.

Native JSON readers recurse once per ``[``/``{``: Arrow's reader (RapidJSON) overflows the
C stack and kills the process at about 10,000 levels, and Python's ``json`` and msgspec
raise ``RecursionError`` at 1,000. No record the engine takes nests more than a few levels,
so every JSON body from outside is measured first and refused past :data:`MAX_DEPTH`.

The measure drops escapes and everything but quotes, brackets and newlines (``bytes``
methods, C speed), then the string literals in what is left (brackets inside strings do
not count), and takes a cumulative sum in Arrow; it is linear and allocates at most a few
copies of the body. It is conservative
on malformed input (an unterminated string counts its brackets), which the parser refuses
anyway.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

#: Deepest nesting of arrays and objects accepted in a JSON body from outside.
MAX_DEPTH = 64

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\n')


class JsonNestingError(ValueError):
    """A JSON body nests too deeply, or closes a bracket it never opened."""


def nesting_depth(body: bytes | str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings.

    -1 when the body is malformed in a way that would hide depth: a bracket closed before
    it was opened, or a string left open at the end of a line (JSON strings hold no raw
    newline, so every line has an even number of unescaped quotes).
    """
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    # Escaped backslashes, then escaped quotes, can neither open nor close a string: gone
    # first, every quote left delimits one. Then only quotes, brackets and newlines stay.
    body = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    if not body:
        return 0
    codes = pa.Array.from_buffers(pa.uint8(), len(body), [None, pa.py_buffer(body)])
    codes = codes.cast(pa.int32())
    quotes = pc.cumulative_sum(pc.equal(codes, ord('"')).cast(pa.int32()))
    in_string = pc.bit_wise_and(quotes, 1)
    newline = pc.equal(codes, ord("\n"))
    if pc.any(pc.and_(newline, pc.equal(in_string, 1))).as_py() or quotes[-1].as_py() % 2:
        return -1
    # '[' 0x5B and '{' 0x7B open, ']' 0x5D and '}' 0x7D close; only brackets have bit 0x40
    # and only closers bit 0x04. Step: +1, -1, or 0 (quote, newline, inside a string).
    bracket = pc.shift_right(pc.bit_wise_and(codes, 0x40), 6)
    sign = pc.subtract(1, pc.shift_right(pc.bit_wise_and(codes, 4), 1))
    step = pc.multiply(pc.multiply(bracket, sign), pc.subtract(1, in_string))
    low, high = pc.min_max(pc.cumulative_sum(step)).values()
    return -1 if low.as_py() < 0 else high.as_py()


def check_nesting(body: bytes | str, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`JsonNestingError` (a short message) if ``body`` nests past ``limit``."""
    depth = nesting_depth(body)
    if depth < 0:
        raise JsonNestingError(
            "malformed JSON: a bracket closed before it was opened, or a string left open"
        )
    if depth > limit:
        raise JsonNestingError(f"JSON nested {depth} levels deep; at most {limit} are accepted")
