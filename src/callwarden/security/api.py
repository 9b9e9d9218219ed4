"""HTTP authentication and authorization dependencies, and the key-management routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from callwarden.audit import service as audit
from callwarden.db import Reader, transaction
from callwarden.errors import CallwardenError
from callwarden.security import service
from callwarden.security.roles import Permission, Role, allows
from callwarden.security.service import Principal


class Unauthenticated(CallwardenError):
    """No credential, or one that is unknown or revoked (HTTP 401)."""

    code = "unauthenticated"


class Forbidden(CallwardenError):
    """A valid credential whose role lacks the permission (HTTP 403)."""

    code = "forbidden"


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A database session per request; the route's work commits when it returns cleanly.

    Declared async on purpose: the work is short and local, and running it on the event loop
    saves the thread hops FastAPI makes for sync dependencies (most of a lookup's latency).
    """
    with transaction(request.app.state.session_factory) as session:
        yield session


def _token(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:]
    return None


def _audit_refusal(
    request: Request, *, type: str, actor: str, role: str, body: dict[str, Any]
) -> None:
    with transaction(request.app.state.session_factory) as session:
        audit.record(
            session=session,
            type=type,
            actor=actor,
            actor_role=role,
            subject=request.url.path,
            body={"method": request.method, **body},
        )


def authorize(
    request: Request, session: Reader, token: str | None, permission: Permission
) -> Principal:
    """The caller behind `token` if its role has `permission`; else 401 or 403 (audited)."""
    principal = service.authenticate(session=session, token=token) if token else None
    if principal is None:
        # Failed credential use is evidence (brute force, leaked or revoked keys); it is
        # written in its own transaction because the request's own one will roll back.
        _audit_refusal(
            request,
            type="auth.failed",
            actor="anonymous",
            role="none",
            body={
                "reason": "missing" if not token else "invalid",
                "client": request.client.host if request.client else None,
            },
        )
        raise Unauthenticated("a valid API key is required (Authorization: Bearer KEY)")
    if not allows(principal.role, permission):
        _audit_refusal(
            request,
            type="auth.denied",
            actor=principal.name,
            role=principal.role.value,
            body={"permission": permission.value},
        )
        raise Forbidden(f"role {principal.role.value!r} may not {permission.value}")
    request.state.principal = principal
    return principal


def request_token(request: Request) -> str | None:
    """The API key a request carries (X-API-Key, or Authorization: Bearer)."""
    return _token(request.headers.get("authorization"), request.headers.get("x-api-key"))


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks one permission."""

    async def dependency(
        request: Request,
        session: Annotated[Session, Depends(get_session)],
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> Principal:
        return authorize(request, session, _token(authorization, x_api_key), permission)

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyIn(BaseModel):
    """A request to create an API key."""

    name: str = Field(min_length=1, max_length=200)
    role: Role


class KeyOut(BaseModel):
    """An API key as listed (the secret is never returned after creation)."""

    key_id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """A newly created key, with its token shown this one time."""

    token: str


def _out(key: object) -> dict[str, object]:
    return {f: getattr(key, f) for f in KeyOut.model_fields}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(
    body: KeyIn,
    principal: Annotated[Principal, Depends(require(Permission.KEYS_MANAGE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, object]:
    """Create an API key; the token is in this response only."""
    key, token = service.create_key(
        session=session, name=body.name, role=body.role, created_by=principal.name
    )
    audit.record(
        session=session,
        type="key.created",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=key.name,
        body={"role": key.role, "key_id": key.key_id},
    )
    return {**_out(key), "token": token}


@router.get("", response_model=list[KeyOut])
def list_keys(
    principal: Annotated[Principal, Depends(require(Permission.KEYS_MANAGE))],
    session: Annotated[Session, Depends(get_session)],
) -> list[dict[str, object]]:
    """List API keys (never their secrets)."""
    return [_out(k) for k in service.list_keys(session=session)]


@router.delete("/{name_or_id}", response_model=KeyOut)
def revoke_key(
    name_or_id: str,
    principal: Annotated[Principal, Depends(require(Permission.KEYS_MANAGE))],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, object]:
    """Revoke an API key; it fails from the next request on."""
    key = service.revoke_key(session=session, name_or_id=name_or_id, revoked_by=principal.name)
    audit.record(
        session=session,
        type="key.revoked",
        actor=principal.name,
        actor_role=principal.role.value,
        subject=key.name,
        body={"key_id": key.key_id},
    )
    return _out(key)


def route_permissions(app: Any) -> list[tuple[str, str, Permission | None]]:
    """(method, path, permission) for every route; None means the route is public."""
    from fastapi.routing import APIRoute

    out: list[tuple[str, str, Permission | None]] = []

    def walk(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI's included routers
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute):
                # a hot-path route checks its permission itself and names it on its endpoint
                perm = getattr(route.endpoint, "permission", None) or _find_permission(
                    route.dependant
                )
                out.extend((m, route.path, perm) for m in sorted(route.methods or ()))

    walk(app.routes)
    return sorted(out, key=lambda r: (r[1], r[0]))


def _find_permission(dependant: Any) -> Permission | None:
    for dep in dependant.dependencies:
        perm = getattr(dep.call, "permission", None)
        if perm is not None:
            return perm  # type: ignore[no-any-return]
        found = _find_permission(dep)
        if found is not None:
            return found
    return None


def access_table_markdown(app: Any) -> str:
    """The role × route table for the docs, generated from the routes themselves."""
    from callwarden.security.roles import ROLE_PERMISSIONS

    roles = list(Role)
    head = "| method | path | permission | " + " | ".join(r.value for r in roles) + " |"
    sep = "|---|---|---|" + "---|" * len(roles)
    lines = [head, sep]
    for method, path, perm in route_permissions(app):
        if perm is None:
            cells = ["public"] * len(roles)
            name = "none (no personal data)"
        else:
            cells = ["✓" if r in ROLE_PERMISSIONS[perm] else "–" for r in roles]
            name = f"`{perm.value}`"
        lines.append(f"| {method} | `{path}` | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
