"""The review: everything the renderers show, as plain JSON-ready data.

One `Review` per plan; `review.json` is `Review.to_dict()` verbatim, and the markdown,
HTML and terminal views only format what is here (no renderer recomputes a number).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SCHEMA = "supercluster.review/1"
ROWS_IN_JSON = 1000  # changed cabling rows kept in review.json; all go to cabling-changes.csv


@dataclass(slots=True)
class Delta:
    """A countable thing before and after the change."""

    item: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return round(self.after - self.before, 3)

    def to_dict(self) -> dict:
        return {"item": self.item, "before": self.before, "after": self.after, "delta": self.delta}


@dataclass(slots=True)
class NameChanges:
    """Named objects (halls, SUs, racks) added and removed."""

    kind: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CablingChanges:
    added: int = 0
    removed: int = 0
    changed: int = 0  # same two ports, another medium or length
    rows: list[dict] = field(default_factory=list)  # change, then the cabling-plan row

    def to_dict(self, max_rows: int) -> dict:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "rows": self.rows[:max_rows],
            "rows_left_out": max(0, len(self.rows) - max_rows),
        }


@dataclass(slots=True)
class PhaseRow:
    phase: str
    before_kw: float | None  # facility demand; None where the phase is new
    after_kw: float | None  # None where the phase was removed
    contract_kw: float
    onsite_kw: float
    headroom_before_kw: float | None
    headroom_after_kw: float | None
    it_before_kw: float | None
    it_after_kw: float | None


@dataclass(slots=True)
class HallRow:
    """A hall's IT draw and its most loaded rack feed and CDU, before and after."""

    hall: str
    it_before_kw: float
    it_after_kw: float
    racks_before: int
    racks_after: int
    busiest_feed_before_pct: float
    busiest_feed_after_pct: float
    busiest_cdu_before_pct: float
    busiest_cdu_after_pct: float


@dataclass(slots=True)
class Review:
    stack: str
    site: str
    base: str  # label of the base revision
    head: str
    base_present: bool  # False: the stack file is new at the base revision
    inventory: list[Delta]
    switches: list[Delta]  # "tier/plane"
    cables: list[Delta]  # "tier/medium"
    names: list[NameChanges]
    cabling: CablingChanges
    power: list[Delta]
    phases: list[PhaseRow]
    halls: list[HallRow]
    cooling: list[Delta]
    violations: dict[str, list[dict]]  # new, fixed, remaining
    blocking: int  # error-severity violations after the change
    integrations: dict[str, dict] = field(default_factory=dict)  # preview, config_check

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking else 0

    def changed(self) -> bool:
        return any(d.delta for d in self.inventory + self.cables + self.power + self.cooling) or (
            self.cabling.added + self.cabling.removed + self.cabling.changed > 0
        )

    def to_dict(self) -> dict:
        out = {
            "schema": SCHEMA,
            "stack": self.stack,
            "site": self.site,
            "base": self.base,
            "head": self.head,
            "base_present": self.base_present,
            "changed": self.changed(),
            "blocking": self.blocking,
            "exit_code": self.exit_code,
        }
        for key in ("inventory", "switches", "cables", "power", "cooling"):
            out[key] = [d.to_dict() for d in getattr(self, key)]
        out["names"] = [asdict(n) for n in self.names]
        out["cabling"] = self.cabling.to_dict(ROWS_IN_JSON)
        out["phases"] = [asdict(p) for p in self.phases]
        out["halls"] = [asdict(h) for h in self.halls]
        out["violations"] = self.violations
        out["integrations"] = self.integrations
        return out
