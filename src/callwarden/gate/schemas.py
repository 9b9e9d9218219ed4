"""Request and response shapes of the gate, shared by the HTTP API and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from callwarden import phone
from callwarden.db import utcnow
from callwarden.gate.decide import Attempt, Reason
from callwarden.gate.service import DecisionRecord

Channel = Literal["voice", "sms", "email"]
Purpose = Literal["telemarketing", "informational", "debt_collection"]
Technology = Literal["manual", "autodialer", "prerecorded", "artificial_voice"]


def _number(value: str) -> str:
    try:
        return phone.parse(value).e164
    except phone.InvalidPhoneNumber as exc:
        raise ValueError(f"not a valid phone number: {exc}") from exc


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=366)
CLOCK_SKEW = timedelta(seconds=5)


class AttemptIn(BaseModel):
    """A proposed call or text."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(description="The number to call or text (E.164 or national form).")
    at: AwareDatetime | None = Field(
        default=None, description="Proposed time (default: now; with as_of: as_of)."
    )
    channel: Channel = "voice"
    purpose: Purpose = "telemarketing"
    technology: Technology = "manual"
    seller: str = Field(min_length=1, max_length=200, pattern=r"^[^*]")
    campaign: str | None = Field(default=None, max_length=200)
    subject: str | None = Field(default=None, max_length=200)
    debt_id: str | None = Field(default=None, max_length=200)
    caller_id: str | None = Field(default=None, description="Outbound caller ID (CLI).")
    recorded: bool = False
    time_specific_consent: bool = Field(
        default=False, description="The consumer asked (logged) to be called at this time."
    )
    as_of: AwareDatetime | None = Field(
        default=None,
        description="Replay: decide with the rules in force then and the facts known then.",
    )

    _v_number = field_validator("number")(_number)

    @field_validator("seller")
    @classmethod
    def _seller(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the seller is blank")
        return value

    @field_validator("at")
    @classmethod
    def _at(cls, value: datetime | None) -> datetime | None:
        # a plan, not a date in another era: also keeps every derived time (reservation
        # expiry, windows) representable
        if value is not None and not EARLIEST <= value <= utcnow() + MAX_AHEAD:
            raise ValueError(f"the proposed time must be from {EARLIEST:%Y} to one year ahead")
        return value

    @field_validator("as_of")
    @classmethod
    def _as_of(cls, value: datetime | None) -> datetime | None:
        # a replay looks back: a future `as_of` would see today's reservations expired and
        # reserve nothing, a way around the caps
        if value is not None and not EARLIEST <= value <= utcnow() + CLOCK_SKEW:
            raise ValueError("as_of must be a past moment (it replays what was known then)")
        return value

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str | None) -> str | None:
        return None if value is None else _number(value)

    def to_attempt(self) -> Attempt:
        """The pure-logic value for this request."""
        at = self.at or self.as_of or utcnow()
        return Attempt(
            number=int(self.number[1:]),
            at=at,
            channel=self.channel,
            purpose=self.purpose,
            technology=self.technology,
            seller=self.seller.strip(),
            campaign=self.campaign,
            subject=self.subject,
            debt_id=self.debt_id,
            caller_id=self.caller_id,
            recorded=self.recorded,
            time_specific_consent=self.time_specific_consent,
        )


class BatchIn(BaseModel):
    """Up to 10,000 attempts decided together."""

    model_config = ConfigDict(extra="forbid")

    attempts: list[AttemptIn] = Field(min_length=1, max_length=10_000)


def reason_out(r: Reason) -> dict[str, Any]:
    """The API/CLI shape of one reason."""
    return {
        "code": r.code,
        "message": r.message,
        "citation": r.citation,
        "rule_id": r.rule_id,
        "rule_version": r.revision,
        "confidence": r.confidence,
        "zone": r.zone,
    }


def decision_out(rec: DecisionRecord) -> dict[str, Any]:
    """The API/CLI shape of one decision."""
    d = rec.decision
    return {
        "decision_id": rec.id,
        "decision": "allow" if d.allowed else "deny",
        "number": "+" + str(rec.attempt.number),
        "at": rec.attempt.at.isoformat(),
        "reasons": [reason_out(r) for r in d.reasons],
        "obligations": [
            {"code": o.code, "message": o.message, "citation": o.citation, "rule_id": o.rule_id}
            for o in d.obligations
        ],
        "locations": {
            "countries": list(d.locations.countries),
            "states": list(d.locations.states),
            "zones": list(d.locations.zones),
            "sources": list(d.locations.sources),
            "local_times": dict(d.local_times),
        },
        "lists": [
            {
                "list": f.list_key,
                "status": f.status,
                "reason": f.reason,
                "as_of": f.as_of.isoformat() if f.as_of else None,
                "snapshot_id": f.snapshot_id,
            }
            for f in rec.facts.lists
        ],
        "exemptions": list(d.exemptions),
        "consent_id": d.consent_id,
        "ebr_id": d.ebr_id,
        "retry_at": d.retry_at.isoformat() if d.retry_at else None,
        "rule_revisions": rec.revisions,
        "replay": {"known_at": rec.known_at.isoformat()} if rec.known_at else None,
        "reservation": (
            {"expires_at": rec.reservation_expires_at.isoformat()}
            if rec.reservation_expires_at
            else None
        ),
        "audit": {
            "event_id": rec.audit_event_id,
            "sha256": rec.audit_sha256,
            "proof": f"/v1/audit/events/{rec.audit_event_id}/proof",
        },
    }
