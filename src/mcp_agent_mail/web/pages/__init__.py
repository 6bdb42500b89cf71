"""Page modules of the web UI; each exposes ``routes`` and :func:`mcp_agent_mail.web.app.page_routes` collects them."""
