"""Bring a mailbox of the original project across: ``mcp-agent-mail import-legacy``.

Modules, one job each: :mod:`.source` reads the original (read-only), :mod:`.values`
reads one untrusted value, :mod:`.target` says what this mailbox holds and hands out
ids, :mod:`.plan` and :mod:`.plan_mail` map rows, :mod:`.files` copies attachments,
:mod:`.write` inserts and queues the archive, :mod:`.report` says what happened,
and :mod:`.run` puts them together in one transaction.
"""

from mcp_agent_mail.services.legacy_import.report import KINDS, NOT_CARRIED, ImportReport
from mcp_agent_mail.services.legacy_import.run import import_legacy

__all__ = ["KINDS", "NOT_CARRIED", "ImportReport", "import_legacy"]
