"""MCP tool adapters: thin wrappers that validate, call a service and shape the result."""
