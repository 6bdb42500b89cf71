"""Configure the coding agents installed on this machine to use this server (``mcp-agent-mail integrate``).

- :mod:`.run`: the command's logic (:func:`.run.integrate`).
- :mod:`.clients`: one module per coding agent; :mod:`.registry` lists them.
- :mod:`.jsonc`, :mod:`.json_edit`, :mod:`.toml_edit`: in-place edits that keep everything else in a file.
- :mod:`.files`: atomic writes, backups and the ledger that makes undo exact; :mod:`.bearer`: the HTTP token.
"""
