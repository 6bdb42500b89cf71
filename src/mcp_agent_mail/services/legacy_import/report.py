"""What an import did (or, for a dry run, would do): counts per kind, skipped rows with reasons, notes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SAMPLES_PER_REASON = 5

#: Kinds in the order they are reported (the names a user sees).
KINDS = (
    "projects",
    "agents",
    "messages",
    "recipients",
    "file_reservations",
    "contacts",
    "window_identities",
    "summaries",
    "attachments",
)

#: Tables of the original this program has no place for, and why.
NOT_CARRIED = {
    "products": "products (the product bus) have no counterpart here; projects are imported on their own",
    "product_project_links": "links of projects to products have no counterpart here",
    "project_sibling_suggestions": "sibling-project suggestions are not kept by this program",
}


@dataclass
class ImportReport:
    """Counts and problems of one import, plus what the user has to do next."""

    dry_run: bool
    merge: bool
    imported: Counter[str] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    not_carried: dict[str, int] = field(default_factory=dict)
    merged: Counter[str] = field(default_factory=Counter)
    renumbered: Counter[str] = field(default_factory=Counter)
    adjusted: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    agents_to_register: dict[str, list[str]] = field(default_factory=dict)
    archive_rows: int = 0

    def skip(self, kind: str, reason: str, what: str) -> None:
        """Count one row of ``kind`` left out for ``reason`` (``what`` names it, kept as a sample)."""
        key = (kind, reason)
        self.skipped[key] += 1
        sample = self.samples.setdefault(key, [])
        if len(sample) < SAMPLES_PER_REASON:
            sample.append(what)

    def count(self, kind: str, n: int = 1) -> None:
        """Count ``n`` rows of ``kind`` imported."""
        self.imported[kind] += n

    @property
    def skipped_total(self) -> int:
        """Return how many rows were left out."""
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of the report."""
        return {
            "dry_run": self.dry_run,
            "merge": self.merge,
            "imported": {kind: self.imported.get(kind, 0) for kind in KINDS},
            "skipped": [
                {"kind": kind, "reason": reason, "count": n, "examples": self.samples.get((kind, reason), [])}
                for (kind, reason), n in sorted(self.skipped.items())
            ],
            "not_carried": [
                {"table": table, "rows": n, "reason": NOT_CARRIED[table]} for table, n in self.not_carried.items()
            ],
            "merged_into_existing": dict(self.merged),
            "renumbered": dict(self.renumbered),
            "adjusted": dict(self.adjusted),
            "agents_to_register": self.agents_to_register,
            "notes": self.notes,
            "archive_rows": self.archive_rows,
        }


__all__ = ["KINDS", "NOT_CARRIED", "ImportReport"]
