"""The Streamable HTTP transport.

App assembly (:mod:`.app`), authentication (:mod:`.auth`), Origin/Host checks (:mod:`.origins`),
rate limits (:mod:`.ratelimit`), body limits (:mod:`.body_limit`) and the direct tools/call route
(:mod:`.tool_route`).
"""

from mcp_agent_mail.http.app import build_http_app

__all__ = ["build_http_app"]
