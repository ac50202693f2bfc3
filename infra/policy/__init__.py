"""The rules: pure functions of a Design, shared by `supercluster validate`, the Pulumi
policy pack and the plan review."""

from infra.policy.rules import RULES, Violation, check_design, errors

__all__ = ["RULES", "Violation", "check_design", "errors"]
