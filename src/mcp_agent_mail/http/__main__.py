"""``python -m mcp_agent_mail.http``: the same checked ``serve`` as the command line."""

import sys

from mcp_agent_mail.cli import app as cli_app

cli_app(["serve", *sys.argv[1:]])
