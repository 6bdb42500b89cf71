"""The Git hook runtime that keeps commits and pushes off files other agents reserved exclusively.

``hook`` runs inside the hooks that
:mod:`mcp_agent_mail.services.reservations.guard_install` writes into a
repository, and ``check`` reads the mailbox database directly, read-only. Git
runs the hook on every commit, so this package imports nothing at load time and
its modules use only the standard library, the services' pure name and pattern
rules and, for a PostgreSQL mailbox only, psycopg.

The mailbox is where DATABASE_URL points when the guard is installed:

- a SQLite file: the hook opens it with ``mode=ro`` (``sqlite_reader``);
- a PostgreSQL database: the hook connects with psycopg (a 5 s connect timeout), reads in a
  ``SET TRANSACTION READ ONLY`` transaction with a 5 s ``statement_timeout``, and closes
  (``postgres_reader``).

Passwords never go into a hook file. The hook stores DATABASE_URL without its password.
When that URL carries a password, ``guard install`` writes it to a libpq password file
readable by its owner only (mode 0600), ``<data directory>/guard.pgpass`` (the data
directory is ``MCP_AGENT_MAIL_HOME``, by default ``~/.mcp_agent_mail``), one line per
host, port, database and user, and the hook hands that file to libpq (``passfile``).
libpq's own order then applies: ``PGPASSWORD`` when it is set, else that file. When the
URL has no password, nothing is written and libpq uses ``PGPASSWORD`` or ``~/.pgpass``
(or a server that needs none). After the password changes, install the guard again. The file
serves every guarded repository, so uninstalling a guard leaves it; delete it when no guard needs it. A
refused login says all this in the hook's message.
"""
