"""Plan review: what a change to a stack does to the site (inventory, cabling, power,
cooling, rules), compared between a git revision and the working tree."""

from infra.review.diff import build_review
from infra.review.model import Review

__all__ = ["Review", "build_review"]
