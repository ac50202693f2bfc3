"""Errors that carry the config path of the problem, so users see where to fix it."""

from __future__ import annotations

CONFIG_ROOT = "supercluster:cluster"


class InputError(Exception):
    """Bad input: one or more problems, each naming a config path. CLI exit code 2."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def at(path: str, message: str) -> str:
    """One problem line: `supercluster:cluster.<path>: <message>`."""
    sep = "." if path and not path.startswith("[") else ""
    return f"{CONFIG_ROOT}{sep}{path}: {message}" if path else f"{CONFIG_ROOT}: {message}"


def shown(value: object, limit: int = 40) -> str:
    """`value` quoted for an error line, cut to `limit` characters so that a huge input
    (a 1 MB name, a list of a million items) cannot flood the terminal."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
