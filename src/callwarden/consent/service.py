"""The consent ledger: consents given (evidence encrypted), revocations received, bulk imports,
and the gate's fast loaders.

Nothing here is updated or deleted: a consent ends by expiry or by a later revocation row, so
"what did we know at time T" is `recorded_at <= T` (replay). Revocations are enforced from
`received_at`, and one that covers telemarketing is also a company-specific Do-Not-Call request
(47 CFR 64.1200(d)(3)), placed on the internal list in the same transaction.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from callwarden import bulk, phone
from callwarden.audit import service as audit
from callwarden.bulk import RowError
from callwarden.consent.models import ConsentRecord, ConsentRevocation
from callwarden.consent.revocation import Basis, Verdict, classify
from callwarden.db import (
    Query,
    Reader,
    bind_time,
    driver_time,
    in_chunks,
    run_query,
    utcnow,
)
from callwarden.errors import NotFound, ValidationFailed
from callwarden.gate import changes
from callwarden.gate.facts import ConsentFact, RevocationFact, names
from callwarden.security.crypto import CryptoError, FieldCipher
from callwarden.security.roles import Role
from callwarden.security.service import Principal

T = TypeVar("T")

KINDS = ("pec", "pewc")
CHANNELS = ("voice", "sms", "email")
PURPOSES = ("telemarketing", "informational", "debt_collection")
REVOCATION_CHANNELS = (
    "sms",
    "ivr",
    "agent",
    "email",
    "web",
    "letter",
    "chat",
    "voicemail",
    "other",
)
SCOPES = (*PURPOSES, "all")
MESSAGE_CHANNELS = (*CHANNELS, "all")
METHODS = ("keyword", "phrase", "uncertain", "keypress", "designated", "other")
ANY_SELLER = "*"
# A scope that covers telemarketing is also a company-specific DNC request (64.1200(d)(3));
# a collection scope is a request not to be contacted through that medium (12 CFR
# 1006.14(h)), which the internal list carries per channel too.
DNC_SCOPES = frozenset({"telemarketing", "debt_collection", "all"})
# Channels where the text is the consumer's own reply, whose words decide whether it revokes.
# Text that came another way (an email, a letter, an agent's note, an IVR key) is the request
# itself, kept as evidence: any reasonable means revokes (64.1200(a)(10), (a)(11)).
REPLY_CHANNELS = frozenset({"sms", "chat"})

EVIDENCE_CONTEXT = "consent_records.evidence"
TEXT_CONTEXT = "consent_revocations.text"
MAX_IMPORT_ROWS = 100_000

CONSENT_FIELDS = (
    "number",
    "kind",
    "sellers",
    "channels",
    "purposes",
    "given_at",
    "expires_at",
    "source",
    "language_text",
    "language_sha256",
    "certificate_id",
    "ip",
    "signature",
    "extra",
)
CONSENT_REQUIRED = ("number", "kind", "sellers", "channels", "purposes", "given_at", "source")
REVOCATION_FIELDS = (
    "number",
    "received_at",
    "channel",
    "seller",
    "scope",
    "message_channel",
    "text",
    "method",
)
REVOCATION_REQUIRED = ("number", "received_at", "channel")

# 64.1200(a)(10): key-press opt-outs and the caller's designated website or number are
# reasonable per se; anything else is recorded as "other" (a rebuttable presumption, (a)(11)).
_DEFAULT_METHOD = {"ivr": "keypress", "web": "designated"}
_METHOD_FOR_BASIS = {
    Basis.PER_SE: "keyword",
    Basis.REASONABLE_PERSON: "phrase",
    Basis.UNCERTAIN: "uncertain",
}
_DNC_SOURCE = {
    "sms": "sms_keyword",
    "ivr": "ivr",
    "agent": "agent_disposition",
    "email": "email",
    "web": "web_form",
    "letter": "letter",
}
_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# -- validation of single records and bulk rows -----------------------------


def check_seller(value: Any, field: str = "seller", *, default: str | None = None) -> str:
    """A seller (business unit) name, or "*" where any seller is meant."""
    text = bulk.text(value, field, required=default is None)
    return text if text is not None else str(default)


def check_sellers(value: Any, field: str = "sellers") -> tuple[str, ...]:
    """The sellers a consent names (at least one)."""
    items = bulk.items(value, field)
    if not items:
        raise ValidationFailed(f"{field} needs at least one seller", field=field)
    for s in items:
        if len(s) > 200:
            raise ValidationFailed(
                f"a seller name is at most 200 characters ({field})", field=field
            )
    return tuple(sorted(set(items)))


def _check_sha256(value: Any) -> str | None:
    text = bulk.text(value, "language_sha256", max_len=64)
    if text is None:
        return None
    text = text.lower()
    if not _SHA256.match(text):
        raise ValidationFailed(
            "language_sha256 must be 64 hexadecimal characters", field="language_sha256"
        )
    return text


def _check_ip(value: Any) -> str | None:
    text = bulk.text(value, "ip", max_len=64)
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValidationFailed(f"ip is not an IP address: {text!r}", field="ip") from None


def _check_extra(value: Any) -> dict[str, Any] | None:
    if bulk.blank(value):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationFailed("extra must be a JSON object", field="extra") from None
    if not isinstance(value, dict):
        raise ValidationFailed("extra must be a JSON object", field="extra")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise ValidationFailed("extra must be plain JSON", field="extra") from None
    return value


def _check_source(value: Any) -> str:
    text = bulk.text(value, "source", required=True, max_len=32)
    assert text is not None
    text = text.lower()
    if not _SLUG.match(text):
        raise ValidationFailed(
            "source is a short name like web_form, paper, ivr, agent, sms or api", field="source"
        )
    return text


def principal_for(actor: str, actor_role: str) -> Principal:
    """The principal other domains' services expect, from an actor name and role."""
    try:
        return Principal(name=actor, role=Role(actor_role))
    except ValueError:
        raise ValidationFailed(f"unknown role {actor_role!r}", field="actor_role") from None


# -- consents ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentInput:
    """A checked consent, ready to store (one API call, or one row of an import)."""

    number: int
    kind: str
    sellers: tuple[str, ...]
    channels: tuple[str, ...]
    purposes: tuple[str, ...]
    given_at: datetime
    expires_at: datetime | None
    source: str
    language_sha256: str | None
    certificate_id: str | None
    evidence: dict[str, Any] | None
    line: int | None = None


def check_consent(
    raw: Mapping[str, Any], *, now: datetime, line: int | None = None
) -> ConsentInput:
    """Validate one consent; InvalidRecord lists every bad field."""
    c = bulk.FieldChecks()
    number = c(lambda: bulk.parse_number(raw.get("number")))
    kind = c(lambda: bulk.choice(raw.get("kind"), KINDS, "kind"))
    sellers = c(lambda: check_sellers(raw.get("sellers")))
    channels = c(lambda: bulk.choices(raw.get("channels"), CHANNELS, "channels"))
    purposes = c(lambda: bulk.choices(raw.get("purposes"), PURPOSES, "purposes"))
    given_at = c(lambda: bulk.instant(raw.get("given_at"), "given_at"))
    expires_at = c(lambda: bulk.instant(raw.get("expires_at"), "expires_at", required=False))
    source = c(lambda: _check_source(raw.get("source")))
    language_text = c(
        lambda: bulk.text(raw.get("language_text"), "language_text", max_len=200_000, strip=False)
    )
    language_sha256 = c(lambda: _check_sha256(raw.get("language_sha256")))
    certificate_id = c(lambda: bulk.text(raw.get("certificate_id"), "certificate_id"))
    ip = c(lambda: _check_ip(raw.get("ip")))
    signature = c(lambda: bulk.text(raw.get("signature"), "signature", max_len=2000))
    extra = c(lambda: _check_extra(raw.get("extra")))

    if given_at is not None and given_at > now:
        c.fail("given_at", "consent cannot have been given in the future")
    if given_at is not None and expires_at is not None and expires_at <= given_at:
        c.fail("expires_at", "expires_at must be after given_at")
    if language_text is not None:
        # The hash is over the exact UTF-8 bytes of the language shown to the consumer.
        digest = hashlib.sha256(language_text.encode("utf-8")).hexdigest()
        if language_sha256 is not None and language_sha256 != digest:
            c.fail("language_sha256", "language_sha256 is not the SHA-256 of language_text")
        language_sha256 = digest
    if sellers is not None and kind is not None and ANY_SELLER in sellers and kind != "pec":
        c.fail(
            "sellers",
            "'*' (any seller) is allowed only for pec; prior express written consent must "
            "name each seller it authorizes (47 CFR 64.1200(f)(9))",
        )
    if kind == "pewc":
        if language_sha256 is None and not c.failed("language_text", "language_sha256"):
            c.fail(
                "language_text",
                "prior express written consent needs the consent language: language_text or "
                "language_sha256 (47 CFR 64.1200(f)(9))",
            )
        if signature is None and not c.failed("signature"):
            c.fail(
                "signature",
                "prior express written consent needs a signature reference (E-SIGN) "
                "(47 CFR 64.1200(f)(9)(ii))",
            )
    c.done()
    assert number is not None and kind is not None and sellers is not None
    assert channels is not None and purposes is not None and given_at is not None
    assert source is not None
    evidence = {
        k: v
        for k, v in (
            ("language_text", language_text),
            ("ip", ip),
            ("signature", signature),
            ("extra", extra),
        )
        if v is not None
    }
    return ConsentInput(
        number=number,
        kind=kind,
        sellers=sellers,
        channels=channels,
        purposes=purposes,
        given_at=given_at,
        expires_at=expires_at,
        source=source,
        language_sha256=language_sha256,
        certificate_id=certificate_id,
        evidence=evidence or None,
        line=line,
    )


def _evidence_context(number: int) -> str:
    # Bound to the number too: evidence cannot be moved to another person's record.
    return f"{EVIDENCE_CONTEXT}#{number}"


def _text_context(number: int) -> str:
    return f"{TEXT_CONTEXT}#{number}"


def _e164(number: int) -> str:
    return phone.parse_e164_int(number).e164


def _store_consents(
    *,
    session: Session,
    cipher: FieldCipher,
    items: Sequence[ConsentInput],
    actor: str,
    actor_role: str,
) -> list[ConsentRecord]:
    now = utcnow()
    records = [
        ConsentRecord(
            number=item.number,
            kind=item.kind,
            sellers=json.dumps(list(item.sellers)),
            channels=json.dumps(list(item.channels)),
            purposes=json.dumps(list(item.purposes)),
            given_at=item.given_at,
            expires_at=item.expires_at,
            source=item.source,
            language_sha256=item.language_sha256,
            certificate_id=item.certificate_id,
            evidence=(
                cipher.encrypt_json(item.evidence, context=_evidence_context(item.number))
                if item.evidence
                else None
            ),
            recorded_at=now,
            recorded_by=actor,
        )
        for item in items
    ]
    # One flush for the lot: the ids come back in a batched INSERT, not a round trip per row.
    session.add_all(records)
    session.flush()
    changes.note(session, "consent", [r.number for r in records])
    for record, item in zip(records, items, strict=True):
        audit.record(
            session=session,
            type="consent.recorded",
            actor=actor,
            actor_role=actor_role,
            subject=_e164(item.number),
            body={
                "consent_id": record.id,
                "kind": item.kind,
                "sellers": list(item.sellers),
                "channels": list(item.channels),
                "purposes": list(item.purposes),
                "given_at": item.given_at.isoformat(),
                "expires_at": item.expires_at.isoformat() if item.expires_at else None,
                "source": item.source,
                "language_sha256": item.language_sha256,
                "certificate_id": item.certificate_id,
                # which evidence exists, never its content (that is personal data)
                "evidence": sorted(item.evidence or ()),
            },
        )
    return records


def add_consent(
    *,
    session: Session,
    cipher: FieldCipher,
    number: int,
    kind: str,
    sellers: Sequence[str],
    channels: Sequence[str],
    purposes: Sequence[str],
    given_at: datetime,
    expires_at: datetime | None = None,
    source: str,
    language_text: str | None = None,
    language_sha256: str | None = None,
    certificate_id: str | None = None,
    ip: str | None = None,
    signature: str | None = None,
    extra: dict[str, Any] | None = None,
    actor: str,
    actor_role: str,
) -> ConsentRecord:
    """Record a consent (pec or pewc), evidence encrypted; audited in the same transaction."""
    item = check_consent(
        {
            "number": f"+{number}",
            "kind": kind,
            "sellers": sellers,
            "channels": channels,
            "purposes": purposes,
            "given_at": given_at,
            "expires_at": expires_at,
            "source": source,
            "language_text": language_text,
            "language_sha256": language_sha256,
            "certificate_id": certificate_id,
            "ip": ip,
            "signature": signature,
            "extra": extra,
        },
        now=utcnow(),
    )
    [record] = _store_consents(
        session=session, cipher=cipher, items=[item], actor=actor, actor_role=actor_role
    )
    return record


def get_consent(*, session: Session, consent_id: int) -> ConsentRecord:
    """One consent record by id."""
    record = session.get(ConsentRecord, consent_id)
    if record is None:
        raise NotFound(f"no consent {consent_id}")
    return record


def consents_for(*, session: Session, number: int) -> list[ConsentRecord]:
    """A number's consents, newest first."""
    q = (
        select(ConsentRecord)
        .where(ConsentRecord.number == number)
        .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc())
    )
    return list(session.scalars(q))


def consent_view(
    record: ConsentRecord, *, cipher: FieldCipher, include_evidence: bool
) -> dict[str, Any]:
    """A consent as plain data; evidence decrypted only when asked (readers with permission)."""
    out: dict[str, Any] = {
        "id": record.id,
        "number": _e164(record.number),
        "kind": record.kind,
        "sellers": json.loads(record.sellers),
        "channels": json.loads(record.channels),
        "purposes": json.loads(record.purposes),
        "given_at": record.given_at,
        "expires_at": record.expires_at,
        "source": record.source,
        "language_sha256": record.language_sha256,
        "certificate_id": record.certificate_id,
        "recorded_at": record.recorded_at,
        "recorded_by": record.recorded_by,
        "has_evidence": record.evidence is not None,
        "evidence": None,
        "evidence_error": None,
    }
    if include_evidence and record.evidence is not None:
        try:
            out["evidence"] = cipher.decrypt_json(
                record.evidence, context=_evidence_context(record.number)
            )
        except CryptoError as exc:
            # Shown, not raised: a listing must still answer, and the damage must be visible.
            out["evidence_error"] = exc.message
    return out


# -- revocations ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevocationInput:
    """A checked revocation (or a reply that turned out not to be one)."""

    number: int
    received_at: datetime
    channel: str
    seller: str
    scope: str
    message_channel: str
    text: str | None
    method: str
    basis: str | None
    needs_review: bool
    revoked: bool
    verdict: Verdict | None = None
    line: int | None = None


@dataclass(frozen=True)
class RevocationOutcome:
    """What recording a revocation did: the row (None when the reply is not a revocation)."""

    revoked: bool
    revocation: ConsentRevocation | None
    verdict: Verdict | None
    dnc_entry_id: int | None = None
    method: str | None = None
    needs_review: bool = False


def check_revocation(
    raw: Mapping[str, Any], *, now: datetime, line: int | None = None
) -> RevocationInput:
    """Validate one revocation and classify its reply text; InvalidRecord lists every bad field."""
    c = bulk.FieldChecks()
    number = c(lambda: bulk.parse_number(raw.get("number")))
    received_at = c(lambda: bulk.instant(raw.get("received_at"), "received_at"))
    channel = c(lambda: bulk.choice(raw.get("channel"), REVOCATION_CHANNELS, "channel"))
    seller = c(lambda: check_seller(raw.get("seller"), default=ANY_SELLER))
    scope = c(lambda: bulk.choice(raw.get("scope"), SCOPES, "scope", default="all"))
    message_channel = c(
        lambda: bulk.choice(
            raw.get("message_channel"), MESSAGE_CHANNELS, "message_channel", default="all"
        )
    )
    raw_text = raw.get("text")
    text = c(lambda: bulk.text(raw_text, "text", max_len=10_000, strip=False))
    if text is None and isinstance(raw_text, str):
        text = raw_text  # an empty reply is still a reply to classify (it revokes nothing)
    method = c(
        lambda: (
            None if bulk.blank(raw.get("method")) else bulk.choice(raw["method"], METHODS, "method")
        )
    )
    if received_at is not None and received_at > now + bulk.CLOCK_SKEW:
        c.fail("received_at", "a revocation cannot have been received in the future")
    elif received_at is not None and received_at > now:
        # A sender's clock a little ahead must not lose the revocation, nor delay it: it is
        # enforced from now.
        received_at = now

    verdict: Verdict | None = None
    basis: str | None = None
    revoked = True
    if text is not None and channel in REPLY_CHANNELS:
        verdict = classify(text)
        revoked = verdict.revoked
        basis = verdict.basis.value
        derived = _METHOD_FOR_BASIS.get(verdict.basis)
        if method is not None and derived is not None and method != derived:
            c.fail(
                "method",
                f"the reply text decides the method (classified {derived!r}); omit method",
            )
        method = derived
    elif channel is not None and method is None:
        method = _DEFAULT_METHOD.get(channel, "other")
    c.done()
    assert number is not None and received_at is not None and channel is not None
    assert seller is not None and scope is not None and message_channel is not None
    return RevocationInput(
        number=number,
        received_at=received_at,
        channel=channel,
        seller=seller,
        scope=scope,
        message_channel=message_channel,
        text=text,
        method=method or "other",
        basis=basis,
        needs_review=bool(verdict.needs_review) if verdict else method == "uncertain",
        revoked=revoked,
        verdict=verdict,
        line=line,
    )


def _store_revocation(
    *,
    session: Session,
    cipher: FieldCipher | None,
    item: RevocationInput,
    actor: str,
    actor_role: str,
    listed: bool = False,
) -> RevocationOutcome:
    from callwarden.dnc import service as dnc

    e164 = _e164(item.number)
    if not item.revoked:
        # No ledger row and no DNC entry, but the decision not to honour a reply is evidence.
        audit.record(
            session=session,
            type="consent.reply.not_revocation",
            actor=actor,
            actor_role=actor_role,
            subject=e164,
            body={
                "channel": item.channel,
                "received_at": item.received_at.isoformat(),
                "basis": item.basis,
            },
        )
        return RevocationOutcome(False, None, item.verdict, None, None, False)
    who = principal_for(actor, actor_role)
    row = ConsentRevocation(
        number=item.number,
        received_at=item.received_at,
        channel=item.channel,
        method=item.method,
        seller=item.seller,
        scope=item.scope,
        message_channel=item.message_channel,
        text=(
            _cipher(cipher).encrypt(item.text, context=_text_context(item.number))
            if item.text is not None
            else None
        ),
        basis=item.basis,
        needs_review=item.needs_review,
        recorded_at=utcnow(),
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    changes.note(session, "consent", [row.number])
    entry_id = None
    if item.scope in DNC_SCOPES and not listed:
        entry = dnc.add_internal(
            session=session,
            number=phone.parse_e164_int(item.number),
            channel=item.message_channel,
            seller=item.seller,
            source=_DNC_SOURCE.get(item.channel, "other"),
            note=f"consent revocation #{row.id} (scope {item.scope})",
            actor=who,
        )
        entry_id = entry.id
    audit.record(
        session=session,
        type="consent.revoked",
        actor=actor,
        actor_role=actor_role,
        subject=e164,
        body={
            "revocation_id": row.id,
            "received_at": item.received_at.isoformat(),
            "channel": item.channel,
            "method": item.method,
            "basis": item.basis,
            "matched": item.verdict.matched if item.verdict else None,
            "citation": item.verdict.citation if item.verdict else None,
            "seller": item.seller,
            "scope": item.scope,
            "message_channel": item.message_channel,
            "needs_review": item.needs_review,
            "dnc_entry_id": entry_id,
        },
    )
    return RevocationOutcome(True, row, item.verdict, entry_id, item.method, item.needs_review)


def _cipher(cipher: FieldCipher | None) -> FieldCipher:
    if cipher is None:  # a caller without the key may record only revocations without text
        raise ValueError("a revocation with text needs the field cipher")
    return cipher


def record_revocation(
    *,
    session: Session,
    cipher: FieldCipher | None,
    number: int,
    received_at: datetime,
    channel: str,
    seller: str,
    scope: str,
    message_channel: str,
    text: str | None = None,
    method: str | None = None,
    actor: str,
    actor_role: str,
    listed: bool = False,
) -> RevocationOutcome:
    """Record a revocation (classifying any reply text); telemarketing scope adds internal DNC.

    `cipher` may be None for a revocation without text; `listed`: the caller has put the
    number on the internal list itself (a call record's Do-Not-Call request).
    """
    item = check_revocation(
        {
            "number": f"+{number}",
            "received_at": received_at,
            "channel": channel,
            "seller": seller,
            "scope": scope,
            "message_channel": message_channel,
            "text": text,
            "method": method,
        },
        now=utcnow(),
    )
    return _store_revocation(
        session=session,
        cipher=cipher,
        item=item,
        actor=actor,
        actor_role=actor_role,
        listed=listed,
    )


def revocations_for(*, session: Session, number: int) -> list[ConsentRevocation]:
    """A number's revocations, newest first (they are never deleted)."""
    q = (
        select(ConsentRevocation)
        .where(ConsentRevocation.number == number)
        .order_by(ConsentRevocation.received_at.desc(), ConsentRevocation.id.desc())
    )
    return list(session.scalars(q))


def revocation_view(
    row: ConsentRevocation, *, cipher: FieldCipher, include_text: bool
) -> dict[str, Any]:
    """A revocation as plain data; the reply text decrypted only when asked."""
    out: dict[str, Any] = {
        "id": row.id,
        "number": _e164(row.number),
        "received_at": row.received_at,
        "channel": row.channel,
        "method": row.method,
        "basis": row.basis,
        "seller": row.seller,
        "scope": row.scope,
        "message_channel": row.message_channel,
        "needs_review": row.needs_review,
        "recorded_at": row.recorded_at,
        "recorded_by": row.recorded_by,
        "has_text": row.text is not None,
        "text": None,
        "text_error": None,
    }
    if include_text and row.text is not None:
        try:
            out["text"] = cipher.decrypt(row.text, context=_text_context(row.number))
        except CryptoError as exc:
            out["text_error"] = exc.message
    return out


def outcome_view(outcome: RevocationOutcome, *, cipher: FieldCipher) -> dict[str, Any]:
    """What a revocation request did, as plain data."""
    v = outcome.verdict
    return {
        "revoked": outcome.revoked,
        "basis": v.basis.value if v else None,
        "matched": v.matched if v else None,
        "citation": v.citation if v else None,
        "method": outcome.method,
        "needs_review": outcome.needs_review,
        "dnc_entry_id": outcome.dnc_entry_id,
        "revocation": (
            revocation_view(outcome.revocation, cipher=cipher, include_text=False)
            if outcome.revocation is not None
            else None
        ),
    }


# -- bulk imports -----------------------------------------------------------


def _parse_rows(
    data: bytes | str,
    fmt: str | None,
    check: Callable[..., T],
    fields: Sequence[str],
    required: Sequence[str],
    now: datetime | None,
) -> tuple[list[T], list[RowError]]:
    read = bulk.read_rows(
        data, fmt, fields=fields, required=required, strict_columns=True, max_rows=MAX_IMPORT_ROWS
    )
    when = now or utcnow()
    return bulk.check_rows(
        read.rows, read.errors, lambda line, raw: check(raw, now=when, line=line)
    )


def parse_consent_rows(
    text: bytes | str, fmt: str | None, *, now: datetime | None = None
) -> tuple[list[ConsentInput], list[RowError]]:
    """Read and validate every consent row; the rows are good only when the errors are empty."""
    return _parse_rows(text, fmt, check_consent, CONSENT_FIELDS, CONSENT_REQUIRED, now)


def import_consents(
    *,
    session: Session,
    cipher: FieldCipher,
    rows: Sequence[ConsentInput],
    actor: str,
    actor_role: str,
) -> list[ConsentRecord]:
    """Store validated consent rows in the caller's transaction (all or nothing)."""
    records = _store_consents(
        session=session, cipher=cipher, items=rows, actor=actor, actor_role=actor_role
    )
    audit.record(
        session=session,
        type="consent.imported",
        actor=actor,
        actor_role=actor_role,
        subject=f"import:{len(records)}",
        body={"rows": len(records), "ids": _id_span(r.id for r in records)},
    )
    return records


def parse_revocation_rows(
    text: bytes | str, fmt: str | None, *, now: datetime | None = None
) -> tuple[list[RevocationInput], list[RowError]]:
    """Read, validate and classify every revocation row."""
    return _parse_rows(text, fmt, check_revocation, REVOCATION_FIELDS, REVOCATION_REQUIRED, now)


def import_revocations(
    *,
    session: Session,
    cipher: FieldCipher,
    rows: Sequence[RevocationInput],
    actor: str,
    actor_role: str,
) -> list[RevocationOutcome]:
    """Store validated revocation rows (replies that revoke nothing are skipped, and audited)."""
    outcomes = [
        _store_revocation(
            session=session, cipher=cipher, item=r, actor=actor, actor_role=actor_role
        )
        for r in rows
    ]
    recorded = [o.revocation.id for o in outcomes if o.revocation is not None]
    audit.record(
        session=session,
        type="consent.revocations.imported",
        actor=actor,
        actor_role=actor_role,
        subject=f"import:{len(outcomes)}",
        body={
            "rows": len(outcomes),
            "recorded": len(recorded),
            "not_revocations": len(outcomes) - len(recorded),
            "ids": _id_span(recorded),
        },
    )
    return outcomes


def _id_span(ids: Iterable[int]) -> list[int]:
    values = list(ids)
    return [min(values), max(values)] if values else []


# -- gate loaders -----------------------------------------------------------


def fact_statements(
    session: Reader, sql: str, numbers: Sequence[int], known_at: datetime | None, order_by: str
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """Statements for many numbers' facts: `sql` has {marks} for the IN list and {known} for
    the replay filter (only rows recorded by `known_at`)."""
    tail: tuple[Any, ...] = ()
    if known_at is not None:
        tail = (bind_time(session, known_at),)
    return in_chunks(_fact_sql(sql, known_at is not None, order_by), numbers, tail)


@lru_cache(maxsize=64)
def _fact_sql(sql: str, replay: bool, order_by: str) -> str:
    known = " AND recorded_at <= ?" if replay else ""
    return sql.format(marks="{marks}", known=known) + f" ORDER BY {order_by}"


_CONSENT_SQL = (
    "SELECT number, id, kind, sellers, channels, purposes, given_at, expires_at"
    " FROM consent_records WHERE number IN ({marks}){known}"
)
_REVOCATION_SQL = (
    "SELECT number, id, received_at, seller, scope, message_channel, channel, method"
    " FROM consent_revocations WHERE number IN ({marks}){known}"
)


@lru_cache(maxsize=10_000)
def _name_set(stored: str) -> tuple[str, ...]:
    # A consent's sellers, channels and purposes are a handful of distinct JSON lists across
    # the whole ledger: parse each text once, not once per row of every batch.
    return names(orjson.loads(stored))


def consents_query(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> Query[dict[int, list[ConsentFact]]]:
    """`load_consents` as a query, to be sent with other loaders' (`db.run_queries`)."""
    keys = [int(n) for n in numbers]

    def parse(rows: Iterable[Any]) -> dict[int, list[ConsentFact]]:
        out: dict[int, list[ConsentFact]] = {n: [] for n in keys}
        for number, id_, kind, sellers, channels, purposes, given, expires in rows:
            out[int(number)].append(
                ConsentFact(
                    id=int(id_),
                    kind=kind,
                    sellers=_name_set(sellers),
                    channels=_name_set(channels),
                    purposes=_name_set(purposes),
                    given_at=driver_time(given),
                    expires_at=driver_time(expires) if expires is not None else None,
                )
            )
        return out

    statements = fact_statements(session, _CONSENT_SQL, keys, known_at, "number, given_at, id")
    return Query(statements, parse)


def load_consents(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> dict[int, list[ConsentFact]]:
    """Every consent on record for each number (known at `known_at`), oldest first."""
    return run_query(session, consents_query(session, numbers, known_at=known_at))


def revocations_query(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> Query[dict[int, list[RevocationFact]]]:
    """`load_revocations` as a query, to be sent with other loaders' (`db.run_queries`)."""
    keys = [int(n) for n in numbers]

    def parse(rows: Iterable[Any]) -> dict[int, list[RevocationFact]]:
        out: dict[int, list[RevocationFact]] = {n: [] for n in keys}
        for number, id_, received, seller, scope, message_channel, channel, method in rows:
            out[int(number)].append(
                RevocationFact(
                    id=int(id_),
                    received_at=driver_time(received),
                    seller=seller,
                    scope=scope,
                    message_channel=message_channel,
                    channel=channel,
                    method=method,
                )
            )
        return out

    statements = fact_statements(
        session, _REVOCATION_SQL, keys, known_at, "number, received_at, id"
    )
    return Query(statements, parse)


def load_revocations(
    session: Reader, numbers: Sequence[int], *, known_at: datetime | None = None
) -> dict[int, list[RevocationFact]]:
    """Every revocation on record for each number (known at `known_at`), oldest first."""
    return run_query(session, revocations_query(session, numbers, known_at=known_at))
