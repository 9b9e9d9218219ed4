"""HTTP routes of the ebr domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["ebr"])
