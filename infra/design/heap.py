"""Building and walking a design without the cyclic garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """A design is ~1 million acyclic objects (tuples, strings, dataclasses); the cyclic
    collector would walk them again and again while one is compiled, compared or indexed
    (20-40% of the time at memphis scale). Reference counting still frees everything;
    the collector is back on after, if it was on before."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
