"""Allow ``python -m mcp_agent_mail``."""

from mcp_agent_mail.cli import main

if __name__ == "__main__":
    main()
