"""What the doctor found: one finding per check, with its status, and the report of a whole run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass
class Finding:
    """The result of one check."""

    name: str
    status: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    repairable: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form ``{name, status, message, details, repairable}``."""
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "details": self.details,
            "repairable": self.repairable,
        }


@dataclass
class Report:
    """Every finding of one ``doctor check`` run."""

    findings: list[Finding]

    def summary(self) -> dict[str, int]:
        """Count findings per status."""
        counts = {OK: 0, WARNING: 0, ERROR: 0}
        for finding in self.findings:
            counts[finding.status] = counts.get(finding.status, 0) + 1
        return counts

    @property
    def has_errors(self) -> bool:
        """True when any finding is an error."""
        return any(f.status == ERROR for f in self.findings)

    def get(self, name: str) -> Finding | None:
        """Return the finding of one check by name."""
        return next((f for f in self.findings if f.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form ``{findings: [...], summary: {ok, warning, error}}``."""
        return {"findings": [f.to_dict() for f in self.findings], "summary": self.summary()}


__all__ = ["ERROR", "OK", "WARNING", "Finding", "Report"]
