"""HTTP routes of the consent domain: consents, revocations, and their bulk imports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from callwarden import bulk, bulk_api, phone
from callwarden.consent import service
from callwarden.db import utcnow
from callwarden.security.api import get_session, require
from callwarden.security.crypto import FieldCipher, cipher_for
from callwarden.security.roles import Permission, allows
from callwarden.security.service import Principal

router = APIRouter(prefix="/v1", tags=["consent"])


class ConsentIn(BaseModel):
    """A consent to record: pec, or pewc with its language and signature reference."""

    number: str = Field(min_length=1, max_length=64)
    kind: str = Field(description="pec or pewc")
    sellers: list[str] = Field(description='Sellers named; "*" (any seller) for pec only')
    channels: list[str] = Field(description="voice, sms, email")
    purposes: list[str] = Field(description="telemarketing, informational, debt_collection")
    given_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    source: str = Field(description="web_form, paper, ivr, agent, sms, api...")
    language_text: str | None = None
    language_sha256: str | None = None
    certificate_id: str | None = None
    ip: str | None = None
    signature: str | None = Field(default=None, description="E-SIGN signature reference")
    extra: dict[str, Any] | None = None


class ConsentOut(BaseModel):
    """A consent on record; evidence is decrypted for readers with consent:read."""

    id: int
    number: str
    kind: str
    sellers: list[str]
    channels: list[str]
    purposes: list[str]
    given_at: datetime
    expires_at: datetime | None
    source: str
    language_sha256: str | None
    certificate_id: str | None
    recorded_at: datetime
    recorded_by: str
    has_evidence: bool
    evidence: dict[str, Any] | None = None
    evidence_error: str | None = None


class RevocationIn(BaseModel):
    """A revocation received by any channel; an SMS or email reply may carry its text."""

    number: str = Field(min_length=1, max_length=64)
    channel: str = Field(description="sms, ivr, agent, email, web, letter, chat, voicemail, other")
    seller: str = Field(default="*", max_length=200, description='Business unit, or "*" for all')
    scope: str = Field(default="all", description="telemarketing, informational, debt_collection")
    message_channel: str = Field(default="all", description="voice, sms, email or all")
    received_at: AwareDatetime | None = Field(default=None, description="Default: now")
    text: str | None = Field(default=None, max_length=10_000, description="The reply text")
    method: str | None = None


class RevocationOut(BaseModel):
    """A revocation on record (never deleted)."""

    id: int
    number: str
    received_at: datetime
    channel: str
    method: str
    basis: str | None
    seller: str
    scope: str
    message_channel: str
    needs_review: bool
    recorded_at: datetime
    recorded_by: str
    has_text: bool
    text: str | None = None
    text_error: str | None = None


class RevocationOutcomeOut(BaseModel):
    """What a revocation request did; `revoked` is false when a reply revokes nothing."""

    revoked: bool
    basis: str | None
    matched: str | None
    citation: str | None
    method: str | None
    needs_review: bool
    dnc_entry_id: int | None
    revocation: RevocationOut | None


class ImportOut(BaseModel):
    """A bulk import that succeeded (a failed one imports nothing and answers 422)."""

    imported: int
    ids: list[int]
    not_revocations: list[int] = Field(
        default=[], description="Lines whose reply text revokes nothing (not recorded)"
    )
    needs_review: list[int] = Field(default=[], description="Ids of revocations to review")


def cipher(request: Request) -> FieldCipher:
    """The field cipher of this service's data directory."""
    return cipher_for(request.app.state.settings.data_dir)


def route(request: Request) -> str:
    """Which route read the data (evidence: who read what, when, through which route)."""
    return f"{request.method} {request.url.path}"


def _read_audit(
    request: Request, principal: Principal, type: str, subject: str, **body: Any
) -> None:
    request.app.state.audit_writer.submit(
        type=type,
        actor=principal.name,
        actor_role=principal.role.value,
        subject=subject,
        body={**body, "route": route(request)},
    )


@router.post("/consents", status_code=status.HTTP_201_CREATED, response_model=ConsentOut)
def consent_add(
    body: ConsentIn,
    principal: Annotated[Principal, Depends(require(Permission.CONSENT_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    fc: Annotated[FieldCipher, Depends(cipher)],
) -> dict[str, Any]:
    """Record a consent; PEWC needs named sellers, its language and a signature reference."""
    fields = body.model_dump(exclude={"number"})
    record = service.add_consent(
        session=session,
        cipher=fc,
        number=bulk.parse_number(body.number),
        **fields,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    return service.consent_view(
        record, cipher=fc, include_evidence=allows(principal.role, Permission.CONSENT_READ)
    )


@router.get("/consents", response_model=list[ConsentOut])
def consent_list(
    request: Request,
    number: str,
    principal: Annotated[Principal, Depends(require(Permission.CONSENT_READ))],
    session: Annotated[Session, Depends(get_session)],
    fc: Annotated[FieldCipher, Depends(cipher)],
) -> list[dict[str, Any]]:
    """A number's consents with their evidence, newest first (the read is audited)."""
    digits = bulk.parse_number(number)
    records = service.consents_for(session=session, number=digits)
    _read_audit(
        request,
        principal,
        "consent.read",
        phone.parse_e164_int(digits).e164,
        consents=len(records),
    )
    return [service.consent_view(r, cipher=fc, include_evidence=True) for r in records]


@router.get("/consents/{consent_id}", response_model=ConsentOut)
def consent_get(
    request: Request,
    consent_id: int,
    principal: Annotated[Principal, Depends(require(Permission.CONSENT_READ))],
    session: Annotated[Session, Depends(get_session)],
    fc: Annotated[FieldCipher, Depends(cipher)],
) -> dict[str, Any]:
    """One consent with its evidence (the read is audited)."""
    record = service.get_consent(session=session, consent_id=consent_id)
    view = service.consent_view(record, cipher=fc, include_evidence=True)
    _read_audit(request, principal, "consent.read", view["number"], consent_id=consent_id)
    return view


@router.post("/consents/imports", status_code=status.HTTP_201_CREATED, response_model=ImportOut)
def consent_import(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.CONSENT_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    fc: Annotated[FieldCipher, Depends(cipher)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
    format: str | None = None,
) -> Any:
    """Import consents from CSV, JSON-lines or a JSON list: every row valid, or none imported."""
    rows, errors = service.parse_consent_rows(body, bulk_api.body_format(request, format))
    if errors:
        return bulk_api.rejected_response(bulk.ImportRejected(errors))
    records = service.import_consents(
        session=session, cipher=fc, rows=rows, actor=principal.name, actor_role=principal.role.value
    )
    return {"imported": len(records), "ids": [r.id for r in records]}


@router.post("/revocations", response_model=RevocationOutcomeOut)
def revocation_add(
    body: RevocationIn,
    response: Response,
    principal: Annotated[Principal, Depends(require(Permission.CONSENT_REVOKE))],
    session: Annotated[Session, Depends(get_session)],
    fc: Annotated[FieldCipher, Depends(cipher)],
) -> dict[str, Any]:
    """Record a revocation, enforced at once: 201 if recorded, 200 if a reply revokes nothing."""
    outcome = service.record_revocation(
        session=session,
        cipher=fc,
        number=bulk.parse_number(body.number),
        received_at=body.received_at or utcnow(),
        channel=body.channel,
        seller=body.seller,
        scope=body.scope,
        message_channel=body.message_channel,
        text=body.text,
        method=body.method,
        actor=principal.name,
        actor_role=principal.role.value,
    )
    response.status_code = status.HTTP_201_CREATED if outcome.revoked else status.HTTP_200_OK
    return service.outcome_view(outcome, cipher=fc)


@router.get("/revocations", response_model=list[RevocationOut])
def revocation_list(
    request: Request,
    number: str,
    principal: Annotated[Principal, Depends(require(Permission.CONSENT_READ))],
    session: Annotated[Session, Depends(get_session)],
    fc: Annotated[FieldCipher, Depends(cipher)],
) -> list[dict[str, Any]]:
    """A number's revocations with their reply text, newest first (the read is audited)."""
    digits = bulk.parse_number(number)
    rows = service.revocations_for(session=session, number=digits)
    _read_audit(
        request,
        principal,
        "consent.revocations.read",
        phone.parse_e164_int(digits).e164,
        revocations=len(rows),
    )
    return [service.revocation_view(r, cipher=fc, include_text=True) for r in rows]


@router.post("/revocations/imports", status_code=status.HTTP_201_CREATED, response_model=ImportOut)
def revocation_import(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.CONSENT_WRITE))],
    session: Annotated[Session, Depends(get_session)],
    fc: Annotated[FieldCipher, Depends(cipher)],
    body: Annotated[bytes, Depends(bulk_api.raw_body)],
    format: str | None = None,
) -> Any:
    """Import revocations (CSV, JSON-lines or a JSON list): every row valid, or none imported."""
    rows, errors = service.parse_revocation_rows(body, bulk_api.body_format(request, format))
    if errors:
        return bulk_api.rejected_response(bulk.ImportRejected(errors))
    outcomes = service.import_revocations(
        session=session, cipher=fc, rows=rows, actor=principal.name, actor_role=principal.role.value
    )
    recorded = [o.revocation for o in outcomes if o.revocation is not None]
    return {
        "imported": len(recorded),
        "ids": [r.id for r in recorded],
        "not_revocations": [
            row.line for row, o in zip(rows, outcomes, strict=True) if not o.revoked
        ],
        "needs_review": [r.id for r in recorded if r.needs_review],
    }
