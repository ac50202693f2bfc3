"""The plan review end to end: read both sides, compile, check, diff, integrations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.design import Design, compile_design
from infra.design.heap import no_cyclic_gc
from infra.design.part import hall_view
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


@dataclass(frozen=True, slots=True)
class Scope:
    """What a review covers: `stack` (the name the review carries), the stack file whose
    spec is read on both sides (`source`), and for a hall stack its halls (its part of the
    site, infra/design/part.py; the rules still run on the whole site)."""

    stack: str
    source: str
    halls: tuple[str, ...] = ()


def scope_of(stack: str, project_dir: Path) -> Scope:
    """A hall stack (supercluster:specStack in the working tree's file) reviews its hall's
    part of the spec stack's site, both sides read from the spec stack's file: the one
    stack resolution of infra/deploy/stacks.py. Any other stack is its own source."""
    from infra.deploy.stacks import SPEC_STACK_KEY, load_plan
    from infra.spec import read_config_mapping, stack_file

    try:
        config = read_config_mapping(stack_file(stack, project_dir), stack)
    except InputError:  # a broken head: parse_side names it, as "(working tree)"
        return Scope(stack, stack)
    if SPEC_STACK_KEY not in config:
        return Scope(stack, stack)
    plan = load_plan(stack, project_dir)
    return Scope(stack, plan.spec_stack, plan.halls)


def _compile(side: Side, scope: Scope) -> tuple[Design | None, list[Violation]]:
    spec = parse_side(side, scope.source)
    if spec is None:
        return None, []
    try:
        design = compile_design(spec, stack=scope.source)
    except InputError as exc:
        where = f"Pulumi.{scope.source}.yaml ({side.label})"
        raise InputError([f"{where}: {p}" for p in exc.problems]) from None
    violations = check_design(design)
    if not scope.halls:
        return design, violations
    return hall_view(design, violations, scope.halls, scope.stack)


def run_plan(
    stack: str,
    project_dir: Path,
    base_rev: str = "HEAD",
    with_preview: bool = False,
    with_config_check: bool = False,
) -> Plan:
    """Raises InputError (exit 2) for a missing head stack, a bad revision or a spec
    that does not validate or compile on either side."""
    head_src = head_side(stack, project_dir)  # a missing stack file: named first
    scope = scope_of(stack, project_dir)
    if scope.source != stack:
        head_src = head_side(scope.source, project_dir)
    base_src = base_side(scope.source, project_dir, base_rev)
    with no_cyclic_gc():
        plan = _compare(scope, base_src, head_src)
    # The integrations talk to the world (Pulumi CLI, ansible-runner) for minutes
    # perhaps: the collector is back on for them.
    if with_preview:
        plan.review.integrations["preview"] = preview(stack, project_dir)
    if with_config_check:
        plan.review.integrations["config_check"] = config_check(stack, project_dir, plan.head)
    return plan


def _compare(scope: Scope, base_src: Side, head_src: Side) -> Plan:
    head, head_v = _compile(head_src, scope)
    assert head is not None  # the head side always has text
    same = parse_side(base_src, scope.source) == parse_side(head_src, scope.source)
    if base_src.text is not None and same:
        # The design is a pure function of the spec: an unchanged spec compiles to the
        # same design, so compile it once.
        base, base_v = head, head_v
    else:
        base, base_v = _compile(base_src, scope)
    review = build_review(scope.stack, base, head, base_v, head_v, base_src.label, head_src.label)
    return Plan(review, base, head)
