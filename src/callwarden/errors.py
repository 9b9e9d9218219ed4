"""One exception hierarchy for the whole package."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class CallwardenError(Exception):
    """Base class of every error callwarden raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(CallwardenError):
    """Input that cannot be accepted (maps to HTTP 422 / CLI exit 2)."""

    code = "invalid_input"


class NotFound(CallwardenError):
    """A named thing does not exist (HTTP 404)."""

    code = "not_found"


class PermissionDenied(CallwardenError):
    """The caller's role does not allow the action (HTTP 403)."""

    code = "forbidden"


class Conflict(CallwardenError):
    """The action conflicts with the current state (HTTP 409)."""

    code = "conflict"


def invalid_input_body(errors: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The HTTP 422 body for request validation errors (pydantic's): each field and why."""
    return {
        "error": "invalid_input",
        "message": "the request is not valid",
        "errors": [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": str(e["msg"]),
            }
            for e in errors
        ],
    }
