"""Who may reach the server over HTTP: bearer tokens, JWT and roles (:mod:`.auth`), and the Origin/Host rules
(:mod:`.origins`), shared by the MCP endpoint (:mod:`mcp_agent_mail.http`) and the web UI
(:mod:`mcp_agent_mail.web`)."""
