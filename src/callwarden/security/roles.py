"""Roles and permissions as data: which role may do what."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The roles an API key can hold."""

    ADMIN = "admin"
    COMPLIANCE = "compliance"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    DIALER = "dialer"
    AUDITOR = "auditor"


class Permission(StrEnum):
    """Actions a route can require."""

    KEYS_MANAGE = "keys:manage"
    DNC_READ = "dnc:read"
    DNC_STATUS = "dnc:status"
    DNC_SCRUB = "dnc:scrub"
    DNC_INTERNAL_ADD = "dnc:internal:add"
    DNC_INTERNAL_REMOVE = "dnc:internal:remove"
    DNC_IMPORT = "dnc:import"
    DNC_IMPORT_ERRORS = "dnc:import:errors"
    AUDIT_READ = "audit:read"
    AUDIT_RECEIPT = "audit:receipt"
    AUDIT_CHECKPOINT = "audit:checkpoint"


_ALL = frozenset(Role)

# Why these sets: agents and dialers record opt-outs the moment a consumer asks
# (47 CFR 64.1200(d)(3)); only a compliance officer may take a number off the
# internal list; auditors read everything but change nothing.
ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.KEYS_MANAGE: frozenset({Role.ADMIN}),
    Permission.DNC_READ: _ALL,
    Permission.DNC_STATUS: _ALL,
    Permission.DNC_SCRUB: frozenset({Role.ADMIN, Role.COMPLIANCE, Role.SUPERVISOR, Role.DIALER}),
    Permission.DNC_INTERNAL_ADD: frozenset(
        {Role.ADMIN, Role.COMPLIANCE, Role.SUPERVISOR, Role.AGENT, Role.DIALER}
    ),
    Permission.DNC_INTERNAL_REMOVE: frozenset({Role.COMPLIANCE}),
    Permission.DNC_IMPORT: frozenset({Role.ADMIN, Role.COMPLIANCE}),
    # rejected lines hold raw numbers: those who import, and auditors, may read them
    Permission.DNC_IMPORT_ERRORS: frozenset({Role.ADMIN, Role.COMPLIANCE, Role.AUDITOR}),
    Permission.AUDIT_READ: frozenset({Role.ADMIN, Role.COMPLIANCE, Role.AUDITOR}),
    # a dialer keeps a receipt for each decision it asked for (its own events only)
    Permission.AUDIT_RECEIPT: frozenset(
        {Role.ADMIN, Role.COMPLIANCE, Role.AUDITOR, Role.SUPERVISOR, Role.DIALER}
    ),
    Permission.AUDIT_CHECKPOINT: frozenset({Role.ADMIN, Role.COMPLIANCE, Role.AUDITOR}),
}


def allows(role: Role, permission: Permission) -> bool:
    """True when the role holds the permission."""
    return role in ROLE_PERMISSIONS[permission]
