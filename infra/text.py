"""Text from outside the project (a discovery file, a node, a BMC, an error message that
quotes one) made safe to print on a terminal.

A node description or a BMC's answer is chosen by whoever controls that device: an ESC
sequence in it can recolour, move the cursor, rewrite the terminal title or hide the lines
printed before it, and a bare CR or newline can forge a line of our own output. So every
control character is escaped visibly (`\\x1b`, not deleted): deleting would let
`p0-spine\\x1b-001` print as, and be mistaken for, `p0-spine-001`.
"""

from __future__ import annotations

import re

# C0 controls (tab is kept, newline only where the caller asks), DEL, C1 controls (U+009B
# is a one-character CSI on many terminals) and the bidirectional overrides/isolates that
# reorder what is displayed ("Trojan Source", CVE-2021-42574).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, *, newlines: bool = False) -> str:
    """`text` as a string with every control character escaped (`\\x1b`), tab kept, and
    newlines kept only with `newlines=True` (for a multi-line report built by us whose
    untrusted fields are single-line)."""
    text = str(text)
    if text.isascii() and text.isprintable():  # the common case: nothing to escape
        return text
    pattern = _CONTROL_BUT_NEWLINE if newlines else _CONTROL
    return pattern.sub(_escape, text)


def has_control(text: str) -> bool:
    """True if `printable` would change `text` (newlines count as control characters)."""
    return not (text.isascii() and text.isprintable()) and _CONTROL.search(text) is not None
