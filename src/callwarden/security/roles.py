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
    CONSENT_READ = "consent:read"
    CONSENT_WRITE = "consent:write"
    CONSENT_REVOKE = "consent:revoke"
    EBR_READ = "ebr:read"
    EBR_WRITE = "ebr:write"
    CALLS_READ = "calls:read"
    CALLS_WRITE = "calls:write"
    CALLS_STATS = "calls:stats"
    NUMBERS_READ = "numbers:read"
    NUMBERS_WRITE = "numbers:write"
    RND_READ = "rnd:read"
    RND_WRITE = "rnd:write"
    EMERGENCIES_READ = "emergencies:read"
    EMERGENCIES_WRITE = "emergencies:write"
    REGISTRATIONS_READ = "registrations:read"
    REGISTRATIONS_WRITE = "registrations:write"
    GATE_DECIDE = "gate:decide"
    GATE_REPLAY = "gate:replay"


_ALL = frozenset(Role)
_STAFF = frozenset({Role.ADMIN, Role.COMPLIANCE, Role.SUPERVISOR, Role.AGENT, Role.DIALER})
_OVERSIGHT = frozenset({Role.ADMIN, Role.COMPLIANCE, Role.SUPERVISOR, Role.AUDITOR})
_OFFICERS = frozenset({Role.ADMIN, Role.COMPLIANCE})
# integrations (CRM, dialer) feed facts with a dialer key; people with a compliance key
_FEEDERS = frozenset({Role.ADMIN, Role.COMPLIANCE, Role.DIALER})

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
    # consent evidence is personal data: staff who act on it, and auditors, read it
    Permission.CONSENT_READ: _STAFF | {Role.AUDITOR},
    # agents capture consent on calls; a dialer records consent from web forms and SMS
    Permission.CONSENT_WRITE: _STAFF,
    # anyone who hears "stop" must be able to record it at once (47 CFR 64.1200(a)(10))
    Permission.CONSENT_REVOKE: _STAFF,
    Permission.EBR_READ: _STAFF | {Role.AUDITOR},
    Permission.EBR_WRITE: _FEEDERS,
    Permission.CALLS_READ: _OVERSIGHT,
    Permission.CALLS_WRITE: _FEEDERS | {Role.SUPERVISOR},
    Permission.CALLS_STATS: _OVERSIGHT,
    Permission.NUMBERS_READ: _STAFF | {Role.AUDITOR},
    Permission.NUMBERS_WRITE: _FEEDERS,
    Permission.RND_READ: _OVERSIGHT | {Role.DIALER},
    Permission.RND_WRITE: _FEEDERS,
    Permission.EMERGENCIES_READ: _ALL,
    Permission.EMERGENCIES_WRITE: _OFFICERS,
    Permission.REGISTRATIONS_READ: _ALL,
    Permission.REGISTRATIONS_WRITE: _OFFICERS,
    Permission.GATE_DECIDE: _STAFF,
    # replay reads past facts and decisions: compliance and auditors (disputes, audits)
    Permission.GATE_REPLAY: _OFFICERS | {Role.AUDITOR},
}


def allows(role: Role, permission: Permission) -> bool:
    """True when the role holds the permission."""
    return role in ROLE_PERMISSIONS[permission]
