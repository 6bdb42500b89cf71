"""The web UI for people: server-rendered pages under ``/mail`` on the HTTP server.

``build_web_app`` (in :mod:`mcp_agent_mail.web.app`) returns the Starlette app that
``mcp_agent_mail.http.app.build_http_app`` mounts at ``/mail``. Pages live in
:mod:`mcp_agent_mail.web.pages`, one module per page group; access rules, the
sign-in session and CSRF tokens in :mod:`mcp_agent_mail.web.security`.
"""
