"""The plan review end to end: read both sides, compile, check, diff, integrations."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra.design import Design, compile_design
from infra.errors import InputError
from infra.policy import Violation, check_design
from infra.review.diff import build_review
from infra.review.integrations import config_check, preview
from infra.review.model import Review
from infra.review.source import Side, base_side, head_side, parse_side


@dataclass(frozen=True, slots=True)
class Plan:
    review: Review
    base: Design | None
    head: Design


def _compile(side: Side, stack: str) -> tuple[Design | None, list[Violation]]:
    spec = parse_side(side, stack)
    if spec is None:
        return None, []
    try:
        design = compile_design(spec, stack=stack)
    except InputError as exc:
        where = f"Pulumi.{stack}.yaml ({side.label})"
        raise InputError([f"{where}: {p}" for p in exc.problems]) from None
    return design, check_design(design)


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """A design is ~1 million acyclic objects; the cyclic collector would walk them again
    and again while two are built and rendered (about 40% of the compile time at memphis
    scale). Reference counting still frees everything; the collector is back on after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def run_plan(
    stack: str,
    project_dir: Path,
    base_rev: str = "HEAD",
    with_preview: bool = False,
    with_config_check: bool = False,
) -> Plan:
    """Raises InputError (exit 2) for a missing head stack, a bad revision or a spec
    that does not validate or compile on either side."""
    head_src = head_side(stack, project_dir)
    base_src = base_side(stack, project_dir, base_rev)
    with no_cyclic_gc():
        plan = _compare(stack, base_src, head_src)
    # The integrations talk to the world (Pulumi CLI, ansible-runner) for minutes
    # perhaps: the collector is back on for them.
    if with_preview:
        plan.review.integrations["preview"] = preview(stack, project_dir)
    if with_config_check:
        plan.review.integrations["config_check"] = config_check(stack, project_dir, plan.head)
    return plan


def _compare(stack: str, base_src: Side, head_src: Side) -> Plan:
    head, head_v = _compile(head_src, stack)
    assert head is not None  # the head side always has text
    if base_src.text is not None and parse_side(base_src, stack) == parse_side(head_src, stack):
        # The design is a pure function of the spec: an unchanged spec compiles to the
        # same design, so compile it once.
        base, base_v = head, head_v
    else:
        base, base_v = _compile(base_src, stack)
    review = build_review(stack, base, head, base_v, head_v, base_src.label, head_src.label)
    return Plan(review, base, head)
