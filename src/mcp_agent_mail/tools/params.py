"""Parameter types shared by several tools, with the short descriptions clients see."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, WithJsonSchema

# project_key takes the repo path or the slug (ensure_project says so); agent names speak for themselves.
ProjectKey = str
HumanKey = Annotated[str, Field(description="Absolute repo path.")]
Me = str
MessageId = int
Program = str
Model = str
Task = str
SinceTs = Annotated[str | None, Field(description="ISO-8601 lower bound.")]
Bodies = bool
TtlSeconds = int
Paths = Annotated[list[str], Field(description="Repo-relative paths/globs (src/**).")]

Limit = int


def str_list(description: str | None = None) -> WithJsonSchema:
    """Publish a names/paths parameter as one plain string or a list of strings (``anyOf``)."""
    schema: dict[str, object] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    if description:
        schema["description"] = description
    return WithJsonSchema(schema)


Names = Annotated[list[str] | str | None, str_list()]
