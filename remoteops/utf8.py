"""Cutting bytes that may be UTF-8 text without splitting a character."""

from __future__ import annotations


def whole_characters(data: bytes | bytearray, end: int) -> int:
    """``end``, moved back (by at most three bytes) to the start of a UTF-8 character that
    would be cut there, so ``data[:end]`` ends with whole characters when it is UTF-8 at all;
    other bytes are cut where asked."""
    end = min(end, len(data))
    for back in range(1, 4):
        at = end - back
        if at < 0:
            break
        byte = data[at]
        if 0x80 <= byte < 0xC0:  # a continuation byte: its lead is further back
            continue
        if 0xC2 <= byte <= 0xF4:  # the lead byte of the character that holds ``end``
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return at if at + length > end else end
        return end  # ASCII, or not UTF-8: nothing to keep whole
    return end
