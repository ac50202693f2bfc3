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


class EnvironmentProblem(Exception):
    """The environment lacks something the command needs (a tool, a Python module, root, a
    free address, a service that should be running): CLI exit code 3. The message says
    what is missing and what to install or do, one line per problem. Subclasses may also
    derive from a module's own error type (FleetError, SimError...) so that callers which
    catch those keep working; the CLI tells them apart by this class."""

    @property
    def problems(self) -> list[str]:
        return str(self).splitlines() or [type(self).__name__]
