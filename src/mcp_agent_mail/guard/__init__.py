"""Git hooks that keep commits and pushes off files other agents reserved exclusively.

``install`` writes the hooks into a repository; ``hook`` runs inside them and
reads the mailbox database directly, read-only. This package imports nothing
at load time so that a hook starts fast.
"""
