"""Create, verify and revoke API keys."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from callwarden.db import Reader, fetch_all, utcnow
from callwarden.errors import Conflict, NotFound, ValidationFailed
from callwarden.security.models import ApiKey
from callwarden.security.roles import Role

TOKEN_RE = re.compile(r"^cw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_KEY_SQL = "SELECT name, role, secret_hash, revoked_at FROM api_keys WHERE key_id = ?"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@:-]{0,199}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's name and role, or a local operator."""

    name: str
    role: Role

    @property
    def label(self) -> str:
        """How the principal appears in the audit trail."""
        return f"{self.name} ({self.role.value})"


def _hash(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough (unlike passwords,
    # there is nothing to brute-force); it also keeps per-request checks cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_role(value: str) -> Role:
    """The Role named by value, or a clear error listing the roles."""
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationFailed(f"unknown role {value!r}; one of: {allowed}", field="role") from None


def create_key(*, session: Session, name: str, role: Role, created_by: str) -> tuple[ApiKey, str]:
    """Create a key; the returned token is shown once and never stored."""
    if not NAME_RE.match(name):
        raise ValidationFailed("key name must be 1-200 letters, digits or ._@:- ", field="name")
    if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
        raise Conflict(f"a key named {name!r} already exists", field="name")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        key_id=key_id,
        name=name,
        role=role.value,
        secret_hash=_hash(secret),
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(key)
    session.flush()
    return key, f"cw_{key_id}_{secret}"


def authenticate(*, session: Reader, token: str) -> Principal | None:
    """The principal a token belongs to, or None when it is unknown, wrong or revoked."""
    m = TOKEN_RE.match(token.strip())
    if m is None:
        return None
    rows = fetch_all(session, _KEY_SQL, (m.group(1),))  # runs on every request
    if not rows:
        return None
    name, role, secret_hash, revoked_at = rows[0]
    if revoked_at is not None or not hmac.compare_digest(secret_hash, _hash(m.group(2))):
        return None
    return Principal(name=name, role=Role(role))


def list_keys(*, session: Session) -> list[ApiKey]:
    """Every key, newest first (secrets are never stored, so never shown)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id.desc())))


def revoke_key(*, session: Session, name_or_id: str, revoked_by: str) -> ApiKey:
    """Revoke a key by name or key id; effective for the very next request."""
    key = session.scalar(
        select(ApiKey).where((ApiKey.name == name_or_id) | (ApiKey.key_id == name_or_id))
    )
    if key is None:
        raise NotFound(f"no key named {name_or_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.revoked_by = revoked_by
    return key
