"""The Streamable HTTP transport.

App assembly (:mod:`.app`), authentication (:mod:`.auth`), Origin/Host checks (:mod:`.origins`),
rate limits (:mod:`.ratelimit`), body limits (:mod:`.body_limit`), the server's tools by name
(:mod:`.catalog`) and the direct tools/call route (:mod:`.tool_route`). Imports inside the package
point one way: :mod:`.app` uses all the others, :mod:`.tool_route` uses :mod:`.catalog` and
:mod:`.body_limit`, :mod:`.auth` uses :mod:`.origins`.
"""

from mcp_agent_mail.http.app import app_from_environment, build_http_app

__all__ = ["app_from_environment", "build_http_app"]
