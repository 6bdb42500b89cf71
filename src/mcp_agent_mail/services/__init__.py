"""Services: plain async functions with plain arguments, one module per noun.

Transports (MCP tools, HTTP, CLI) call these; services know nothing of them.
"""
