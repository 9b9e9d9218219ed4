"""Imports every domain's tables so that metadata (and Alembic) sees them all."""

from callwarden.audit.models import AuditCheckpoint, AuditEvent, AuditTreeNode
from callwarden.dnc.models import (
    DncCoverage,
    DncInternalEntry,
    DncInternalEvent,
    DncList,
    DncNumberChange,
    DncSnapshot,
    DncSnapshotError,
    DncSync,
)
from callwarden.security.models import ApiKey

__all__ = [
    "ApiKey",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditTreeNode",
    "DncCoverage",
    "DncInternalEntry",
    "DncInternalEvent",
    "DncList",
    "DncNumberChange",
    "DncSnapshot",
    "DncSnapshotError",
    "DncSync",
]
