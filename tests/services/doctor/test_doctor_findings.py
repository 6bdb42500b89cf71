"""A doctor report: counts per status, the error verdict, lookup by check name and the JSON form."""

from __future__ import annotations

from mcp_agent_mail.services.doctor.findings import ERROR, OK, WARNING, Finding, Report


def _report() -> Report:
    return Report(
        [
            Finding("database", OK, "Database integrity check passed."),
            Finding("archive_queue", WARNING, "2 archive change(s) have waited 90 s.", {"pending": 2}, True),
            Finding("locks", OK, "No Git lock files."),
        ]
    )


def test_the_summary_counts_every_status_even_when_none_has_a_finding():
    assert _report().summary() == {OK: 2, WARNING: 1, ERROR: 0}
    assert Report([]).summary() == {"ok": 0, "warning": 0, "error": 0}


def test_only_an_error_makes_the_report_fail():
    report = _report()
    assert report.has_errors is False
    report.findings.append(Finding("orphans", ERROR, "Orphaned rows: 1 recipients_without_agent."))
    assert report.has_errors is True and report.summary()[ERROR] == 1


def test_a_finding_is_found_by_its_check_name():
    report = _report()
    queue = report.get("archive_queue")
    assert queue is not None and queue.details == {"pending": 2} and queue.repairable is True
    assert report.get("fts_index") is None


def test_the_json_form_lists_every_finding_in_order_with_the_summary():
    data = _report().to_dict()
    assert set(data) == {"findings", "summary"}
    assert [f["name"] for f in data["findings"]] == ["database", "archive_queue", "locks"]
    assert data["findings"][0] == {
        "name": "database",
        "status": "ok",
        "message": "Database integrity check passed.",
        "details": {},
        "repairable": False,
    }
    assert data["findings"][1]["details"] == {"pending": 2} and data["findings"][1]["repairable"] is True
    assert data["summary"] == {"ok": 2, "warning": 1, "error": 0}


def test_findings_do_not_share_their_details():
    one, two = Finding("a", OK, "x"), Finding("b", OK, "y")
    one.details["k"] = 1
    assert two.details == {}
