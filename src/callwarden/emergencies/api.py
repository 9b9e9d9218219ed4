"""HTTP routes of the emergencies domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["emergencies"])
