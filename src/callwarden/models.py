"""Imports every domain's tables so that metadata (and Alembic) sees them all."""

from callwarden.audit.models import AuditCheckpoint, AuditEvent, AuditTreeNode
from callwarden.calls.models import CallAttempt
from callwarden.consent.models import ConsentRecord, ConsentRevocation
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
from callwarden.ebr.models import EbrEvent
from callwarden.emergencies.models import Emergency, SellerRegistration
from callwarden.gate.models import FactChange, RulePackRevision
from callwarden.numbers.models import CustomerLocation, LineTypeRecord
from callwarden.rnd.models import RndResult
from callwarden.security.models import ApiKey

__all__ = [
    "ApiKey",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditTreeNode",
    "CallAttempt",
    "ConsentRecord",
    "ConsentRevocation",
    "CustomerLocation",
    "DncCoverage",
    "DncInternalEntry",
    "DncInternalEvent",
    "DncList",
    "DncNumberChange",
    "DncSnapshot",
    "DncSnapshotError",
    "DncSync",
    "EbrEvent",
    "Emergency",
    "FactChange",
    "LineTypeRecord",
    "RndResult",
    "RulePackRevision",
    "SellerRegistration",
]
