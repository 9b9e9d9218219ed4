"""Where RND answers come from: the provider interface, and refreshing stored answers from one.

The FCC database cannot be downloaded, only queried (web, file upload or API, behind a
subscription), and its API specification is not public. So callwarden ships one provider that
needs no network: ``FileRndProvider`` answers from a results file an operator obtained from
the RND or a reseller. A live provider (the official API or a reseller's REST wrapper)
implements the same ``RndProvider`` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from callwarden import phone
from callwarden.audit import service as audit
from callwarden.bulk import CLOCK_SKEW, MAX_SOURCE
from callwarden.db import utcnow
from callwarden.errors import ValidationFailed
from callwarden.rnd import service
from callwarden.rnd.models import RndResult
from callwarden.rnd.service import RndAnswer

__all__ = ["FileRndProvider", "RndAnswer", "RndProvider", "refresh"]


@runtime_checkable
class RndProvider(Protocol):
    """Answers RND queries: one answer per (number as E.164 digits, consent date) it can give."""

    name: str

    def query(self, requests: Sequence[tuple[int, date]]) -> list[RndAnswer]:
        """The database's answers for the requests (a request left out was not answered)."""
        ...


class FileRndProvider:
    """Answers from a results file an operator downloaded; a pair not in the file is no_data.

    When the file holds several answers for a pair, the most recent query wins. A pair missing
    from the file is answered ``no_data`` at the moment of the query, with a source that says
    so: no safe harbor rests on it, and the gate treats it as "no data" (fail closed).
    """

    def __init__(self, path: str | Path, *, queried_at: datetime | None = None) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path.name}"[:MAX_SOURCE]
        self.queried_at = queried_at
        self._answers: dict[tuple[int, date], RndAnswer] | None = None

    def _load(self) -> dict[tuple[int, date], RndAnswer]:
        if self._answers is None:
            try:
                data = self.path.read_bytes()
            except OSError as exc:
                raise ValidationFailed(
                    f"cannot read {self.path}: {exc.strerror}", field="file"
                ) from None
            answers: dict[tuple[int, date], RndAnswer] = {}
            for a in service.parse_results(data, queried_at=self.queried_at):
                key = (a.number, a.consent_date)
                if key not in answers or a.queried_at > answers[key].queried_at:
                    answers[key] = a
            self._answers = answers
        return self._answers

    def query(self, requests: Sequence[tuple[int, date]]) -> list[RndAnswer]:
        """The file's answers for the requests; no_data for pairs it does not hold."""
        answers = self._load()
        now = utcnow()
        missing = f"{self.name} (not in file)"[:MAX_SOURCE]
        out: list[RndAnswer] = []
        for number, consent in requests:
            found = answers.get((number, consent))
            out.append(found or RndAnswer(number, consent, "no_data", now, missing))
        return out


def refresh(
    *,
    session: Session,
    provider: RndProvider,
    requests: Sequence[tuple[int, date]],
    actor: str,
    actor_role: str,
) -> list[RndResult]:
    """Ask the provider about (number, consent date) pairs and store its answers (audited)."""
    asked: list[tuple[int, date]] = []
    today = (utcnow() + CLOCK_SKEW).date()
    for number, consent in dict.fromkeys(requests):
        try:
            phone.parse_e164_int(number)
        except phone.InvalidPhoneNumber as exc:
            raise ValidationFailed(f"{number}: {exc.message}", field="number") from None
        if isinstance(consent, datetime) or not isinstance(consent, date):
            raise ValidationFailed("consent dates must be dates", field="consent_date")
        if consent > today:
            raise ValidationFailed(f"consent date {consent} is in the future", field="consent_date")
        asked.append((number, consent))
    if not asked:
        return []
    answers = provider.query(asked)
    wanted = set(asked)
    for a in answers:
        if (a.number, a.consent_date) not in wanted:
            raise ValidationFailed(
                f"provider {provider.name} answered a query that was not asked "
                f"({a.number}, {a.consent_date})",
                field="provider",
            )
    stored = service.record_results(
        session=session, answers=answers, source=provider.name, actor=actor, actor_role=actor_role
    )
    counts = {r: sum(1 for a in answers if a.result == r) for r in service.RESULTS}
    audit.record(
        session=session,
        type="rnd.refreshed",
        actor=actor,
        actor_role=actor_role,
        subject=f"provider:{provider.name}"[:200],
        body={"asked": len(asked), "answered": len(answers), **counts},
    )
    return stored
