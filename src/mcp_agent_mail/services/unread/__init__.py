"""Unread mail at a glance, for hooks that run on every prompt (``mcp-agent-mail mail status``).

Light on purpose: the standard library's sqlite3, or psycopg for a PostgreSQL
mailbox, and nothing of the ORM, the settings model or the server.

- :mod:`.locate`: which database the server uses (environment, ``.env`` files, defaults), without pydantic.
- :mod:`.counts`: the read-only query: unread, urgent and awaiting-acknowledgement counts and their senders.
"""
