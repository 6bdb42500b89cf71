"""The Git hook runtime that keeps commits and pushes off files other agents reserved exclusively.

``hook`` runs inside the hooks that
:mod:`mcp_agent_mail.services.reservations.guard_install` writes into a
repository, and ``check`` reads the mailbox database directly, read-only. Git
runs the hook on every commit, so this package imports nothing at load time and
its modules use only the standard library and the services' pure name and
pattern rules.
"""
