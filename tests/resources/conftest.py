"""Fixtures for the resource tests (defined in resource_kit)."""

from resource_kit import server, strict_mode, world  # noqa: F401
