"""The consent ledger's service: validation, encrypted evidence, revocations, loaders, imports."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from callwarden import bulk, db
from callwarden.audit import service as audit
from callwarden.consent import service
from callwarden.consent.models import ConsentRecord, ConsentRevocation
from callwarden.db import transaction
from callwarden.dnc import service as dnc
from callwarden.dnc.models import DncInternalEntry
from callwarden.errors import NotFound, ValidationFailed
from callwarden.gate.facts import ConsentFact, RevocationFact
from callwarden.security.crypto import FieldCipher, cipher_for

N1 = 14045550100
N2 = 14045550101
LANGUAGE = "By signing you agree that Acme may call you with an autodialer. Not a condition."
NOW = datetime.now(UTC)


@pytest.fixture
def fc(settings: Any) -> FieldCipher:
    return cipher_for(settings.data_dir)


def pewc(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "number": N1,
        "kind": "pewc",
        "sellers": ["acme"],
        "channels": ["voice", "sms"],
        "purposes": ["telemarketing"],
        "given_at": NOW - timedelta(days=2),
        "source": "web_form",
        "language_text": LANGUAGE,
        "signature": "esign:env-123",
        "ip": "203.0.113.7",
        "extra": {"page": "/offer"},
        "actor": "agent-7",
        "actor_role": "agent",
    }
    base.update(over)
    return base


def add(factory: sessionmaker[Session], fc: FieldCipher, **over: Any) -> ConsentRecord:
    with transaction(factory) as s:
        return service.add_consent(session=s, cipher=fc, **pewc(**over))


def revoke(factory: sessionmaker[Session], fc: FieldCipher, **over: Any) -> Any:
    kwargs: dict[str, Any] = {
        "number": N1,
        "received_at": NOW - timedelta(minutes=1),
        "channel": "sms",
        "seller": "acme",
        "scope": "all",
        "message_channel": "sms",
        "actor": "dialer-1",
        "actor_role": "dialer",
    }
    kwargs.update(over)
    with transaction(factory) as s:
        return service.record_revocation(session=s, cipher=fc, **kwargs)


# -- consents ---------------------------------------------------------------


def test_pewc_is_stored_with_encrypted_evidence_and_audited(session_factory, fc):
    record = add(session_factory, fc)
    with session_factory() as s:
        row = s.get(ConsentRecord, record.id)
        assert row is not None
        assert row.language_sha256 == hashlib.sha256(LANGUAGE.encode()).hexdigest()
        assert json.loads(row.sellers) == ["acme"] and json.loads(row.channels) == ["sms", "voice"]
        assert row.recorded_by == "agent-7"
        # evidence at rest is ciphertext: none of the personal data shows
        assert row.evidence is not None and row.evidence.startswith("v1:")
        for secret in ("203.0.113.7", "esign:env-123", "autodialer", "/offer"):
            assert secret not in row.evidence
        view = service.consent_view(row, cipher=fc, include_evidence=True)
        assert view["evidence"] == {
            "ip": "203.0.113.7",
            "signature": "esign:env-123",
            "language_text": LANGUAGE,
            "extra": {"page": "/offer"},
        }
        hidden = service.consent_view(row, cipher=fc, include_evidence=False)
        assert hidden["evidence"] is None and hidden["has_evidence"] is True
        [event] = audit.events(session=s, type="consent.recorded")
    body = json.loads(event.body)
    assert event.subject == "+14045550100" and event.actor == "agent-7"
    assert body["consent_id"] == record.id and body["evidence"] == [
        "extra",
        "ip",
        "language_text",
        "signature",
    ]
    assert "203.0.113.7" not in event.body and "esign" not in event.body


def test_consent_and_its_audit_event_share_the_transaction(session_factory, fc):
    with pytest.raises(RuntimeError), transaction(session_factory) as s:
        service.add_consent(session=s, cipher=fc, **pewc())
        raise RuntimeError("crash before commit")
    with session_factory() as s:
        assert s.scalars(select(ConsentRecord)).all() == []
        assert audit.events(session=s, type="consent.recorded") == []


def test_evidence_cannot_be_moved_to_another_number(session_factory, fc):
    a = add(session_factory, fc)
    b = add(session_factory, fc, number=N2, ip="198.51.100.1")
    with transaction(session_factory) as s:
        s.execute(update(ConsentRecord).where(ConsentRecord.id == b.id).values(evidence=a.evidence))
    with session_factory() as s:
        row = s.get(ConsentRecord, b.id)
        view = service.consent_view(row, cipher=fc, include_evidence=True)
    assert view["evidence"] is None and "does not verify" in view["evidence_error"]


def test_language_hash_alone_is_enough_for_pewc(session_factory, fc):
    digest = hashlib.sha256(b"the language").hexdigest()
    record = add(session_factory, fc, language_text=None, language_sha256=digest.upper())
    assert record.language_sha256 == digest


def test_pec_may_name_any_seller_and_needs_no_signature(session_factory, fc):
    record = add(
        session_factory,
        fc,
        kind="pec",
        sellers=["*"],
        language_text=None,
        signature=None,
        ip=None,
        extra=None,
        purposes=["informational"],
    )
    assert json.loads(record.sellers) == ["*"] and record.evidence is None


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"kind": "verbal"}, "kind"),
        ({"sellers": []}, "sellers"),
        ({"sellers": ["*"]}, "sellers"),  # any-seller is pec only
        ({"channels": ["fax"]}, "channels"),
        ({"channels": []}, "channels"),
        ({"purposes": ["marketing"]}, "purposes"),
        ({"given_at": NOW + timedelta(hours=1)}, "given_at"),
        ({"given_at": datetime(2026, 1, 1, 12, 0)}, "given_at"),  # naive
        ({"expires_at": NOW - timedelta(days=3)}, "expires_at"),
        ({"language_text": None}, "language_text"),
        ({"signature": None}, "signature"),
        ({"language_sha256": "0" * 64}, "language_sha256"),  # does not match the text
        ({"language_text": None, "language_sha256": "xyz"}, "language_sha256"),
        ({"source": ""}, "source"),
        ({"source": "Web Form!"}, "source"),
        ({"ip": "not-an-ip"}, "ip"),
        ({"number": 4045550100}, "number"),  # an int must already be E.164 (+1...)
        ({"number": 11234567890}, "number"),
    ],
)
def test_bad_consents_name_the_field(session_factory, fc, over, field):
    with pytest.raises(ValidationFailed) as info, transaction(session_factory) as s:
        service.add_consent(session=s, cipher=fc, **pewc(**over))
    assert info.value.field == field
    with session_factory() as s:
        assert s.scalars(select(ConsentRecord)).all() == []


def test_every_bad_field_of_a_record_is_reported():
    with pytest.raises(bulk.InvalidRecord) as info:
        service.check_consent(
            {"number": "x", "kind": "pewc", "sellers": ["*"], "channels": ["fax"]}, now=NOW
        )
    fields = [f for f, _ in info.value.errors]
    for f in ("number", "channels", "purposes", "given_at", "source", "sellers", "signature"):
        assert f in fields, f


def test_get_and_list(session_factory, fc):
    old = add(session_factory, fc, given_at=NOW - timedelta(days=30))
    new = add(session_factory, fc, given_at=NOW - timedelta(days=1))
    add(session_factory, fc, number=N2)
    with session_factory() as s:
        assert [r.id for r in service.consents_for(session=s, number=N1)] == [new.id, old.id]
        assert service.get_consent(session=s, consent_id=old.id).id == old.id
        with pytest.raises(NotFound):
            service.get_consent(session=s, consent_id=999_999)


# -- revocations -------------------------------------------------------------


def test_stop_revokes_and_adds_an_internal_dnc_entry(session_factory, fc):
    outcome = revoke(session_factory, fc, text="STOP")
    assert outcome.revoked and outcome.method == "keyword" and not outcome.needs_review
    rev = outcome.revocation
    assert rev.basis == "per_se" and rev.scope == "all"
    with session_factory() as s:
        row = s.get(ConsentRevocation, rev.id)
        assert row.text.startswith("v1:") and "STOP" not in row.text
        assert service.revocation_view(row, cipher=fc, include_text=True)["text"] == "STOP"
        [entry] = dnc.internal_entries(session=s, number=N1)
        assert entry.id == outcome.dnc_entry_id
        assert (entry.seller, entry.channel, entry.source) == ("acme", "sms", "sms_keyword")
        assert entry.added_by == "dialer-1" and entry.added_role == "dialer"
        [event] = audit.events(session=s, type="consent.revoked")
        body = json.loads(event.body)
        assert body["dnc_entry_id"] == entry.id and body["matched"] == "stop"
        assert "STOP" not in event.body


@pytest.mark.parametrize(
    ("text", "method", "review"),
    [
        ("Please stop texting me", "phrase", False),
        ("no más", "phrase", False),
        ("stpo", "uncertain", True),  # a likely typo: treated as revoked, flagged
        ("I said stop it already", "uncertain", True),
        # plain-language replies an audit found unrecognised (2026-11-29)
        ("Don't message me", "phrase", False),
        ("dont contact me", "phrase", False),
        ("opt_out", "keyword", False),
        ("nomas", "phrase", False),
        ("deja de escribirme", "phrase", False),
        ("no me mandes mensajes", "phrase", False),
        ("No more!", "uncertain", True),
        ("unsub", "uncertain", True),
        ("i want out", "uncertain", True),
        ("go away", "uncertain", True),
    ],
)
def test_reply_texts_are_classified(session_factory, fc, text, method, review):
    outcome = revoke(session_factory, fc, text=text)
    assert outcome.revoked and outcome.method == method and outcome.needs_review is review
    assert outcome.revocation.needs_review is review


def test_a_reply_that_is_not_a_revocation_records_nothing(session_factory, fc):
    outcome = revoke(session_factory, fc, text="Thanks, see you Tuesday")
    assert not outcome.revoked and outcome.revocation is None and outcome.dnc_entry_id is None
    with session_factory() as s:
        assert s.scalars(select(ConsentRevocation)).all() == []
        assert dnc.internal_entries(session=s, number=N1) == []
        [event] = audit.events(session=s, type="consent.reply.not_revocation")
    assert "Tuesday" not in event.body


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_reply_revokes_nothing(session_factory, fc, text):
    assert not revoke(session_factory, fc, text=text).revoked


@pytest.mark.parametrize(
    ("channel", "method"),
    [("ivr", "keypress"), ("web", "designated"), ("agent", "other"), ("letter", "other")],
)
def test_method_defaults_by_channel(session_factory, fc, channel, method):
    outcome = revoke(session_factory, fc, channel=channel)
    assert outcome.revocation.method == method and outcome.revocation.basis is None


def test_only_a_telemarketing_scope_is_a_dnc_request(session_factory, fc):
    informational = revoke(session_factory, fc, scope="informational", channel="agent")
    assert informational.revoked and informational.dnc_entry_id is None
    marketing = revoke(
        session_factory, fc, scope="telemarketing", message_channel="all", seller="*"
    )
    with session_factory() as s:
        [entry] = dnc.internal_entries(session=s, number=N1)
    assert entry.id == marketing.dnc_entry_id
    assert (entry.channel, entry.seller, entry.source) == ("all", "*", "sms_keyword")


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"scope": "marketing"}, "scope"),
        ({"message_channel": "fax"}, "message_channel"),
        ({"received_at": datetime.now(UTC) + timedelta(days=1)}, "received_at"),
        ({"method": "telepathy"}, "method"),
        ({"text": "STOP", "method": "keypress"}, "method"),  # the text decides
        ({"number": 1}, "number"),
        ({"actor_role": "operator"}, "actor_role"),
    ],
)
def test_bad_revocations_name_the_field(session_factory, fc, over, field):
    with pytest.raises(ValidationFailed) as info:
        revoke(session_factory, fc, **over)
    assert info.value.field == field
    with session_factory() as s:
        assert s.scalars(select(ConsentRevocation)).all() == []


def test_a_sender_clock_slightly_ahead_is_enforced_from_now(session_factory, fc):
    ahead = datetime.now(UTC) + timedelta(minutes=2)
    rev = revoke(session_factory, fc, received_at=ahead).revocation
    assert rev.received_at <= datetime.now(UTC) < ahead


def test_revocations_list_newest_first(session_factory, fc):
    a = revoke(session_factory, fc, received_at=NOW - timedelta(days=3)).revocation
    b = revoke(session_factory, fc, received_at=NOW - timedelta(days=1)).revocation
    with session_factory() as s:
        assert [r.id for r in service.revocations_for(session=s, number=N1)] == [b.id, a.id]


# -- gate loaders ------------------------------------------------------------


def test_loaders_return_the_gate_facts(session_factory, fc):
    given = NOW.replace(microsecond=123456) - timedelta(days=5)
    expires = given + timedelta(days=365)
    c = add(session_factory, fc, given_at=given, expires_at=expires, sellers=["b", "a"])
    r = revoke(session_factory, fc, text="stop", received_at=NOW - timedelta(hours=1)).revocation
    with session_factory() as s:
        consents = service.load_consents(s, [N1, N2])
        revocations = service.load_revocations(s, [N1, N2])
    assert consents == {
        N1: [
            ConsentFact(
                id=c.id,
                kind="pewc",
                sellers=("a", "b"),
                channels=("sms", "voice"),
                purposes=("telemarketing",),
                given_at=given,
                expires_at=expires,
            )
        ],
        N2: [],
    }
    assert consents[N1][0].given_at.tzinfo is not None
    assert revocations == {
        N1: [
            RevocationFact(
                id=r.id,
                received_at=r.received_at,
                seller="acme",
                scope="all",
                message_channel="sms",
                channel="sms",
                method="keyword",
            )
        ],
        N2: [],
    }


def test_loaders_chunk_and_replay(session_factory, fc, monkeypatch):
    monkeypatch.setattr(db, "IN_CHUNK", 2)  # the loaders' IN lists, two numbers each
    numbers = [14045550100 + i for i in range(7)]
    for n in numbers:
        add(session_factory, fc, number=n)
        revoke(session_factory, fc, number=n)
    with session_factory() as s:
        loaded = service.load_consents(s, [*numbers, numbers[0]])
        assert sorted(loaded) == numbers and all(len(v) == 1 for v in loaded.values())
        assert all(len(v) == 1 for v in service.load_revocations(s, numbers).values())
    # Replay: only facts recorded at or before known_at count.
    cut = NOW - timedelta(days=1)
    with transaction(session_factory) as s:
        s.execute(update(ConsentRecord).values(recorded_at=cut - timedelta(seconds=1)))
        s.execute(
            update(ConsentRevocation)
            .where(ConsentRevocation.number == numbers[0])
            .values(recorded_at=cut)
        )
    with session_factory() as s:
        assert all(len(v) == 1 for v in service.load_consents(s, numbers, known_at=cut).values())
        known = service.load_revocations(s, numbers, known_at=cut)
        assert [n for n, v in known.items() if v] == [numbers[0]]
        earlier = cut - timedelta(microseconds=1)
        assert not any(service.load_revocations(s, numbers, known_at=earlier).values())


# -- bulk imports ------------------------------------------------------------

CSV_OK = (
    "number,kind,sellers,channels,purposes,given_at,source,language_text,signature,ip\n"
    '404-555-0100,pewc,"acme;beta, inc",voice;sms,telemarketing,2026-01-05T10:00:00Z,web_form,'
    '"I agree, Acme may call",esign:1,203.0.113.9\n'
    "+1 404 555 0101,pec,*,voice,informational,2026-01-06T10:00:00-05:00,agent,,,\n"
)


def test_csv_rows_are_parsed_and_imported_together(session_factory, fc):
    rows, errors = service.parse_consent_rows(CSV_OK, "csv")
    assert errors == [] and [r.line for r in rows] == [2, 3]
    assert rows[0].sellers == ("acme", "beta, inc") and rows[0].channels == ("sms", "voice")
    assert rows[0].evidence == {
        "language_text": "I agree, Acme may call",
        "signature": "esign:1",
        "ip": "203.0.113.9",
    }
    assert rows[1].number == N2 and rows[1].given_at == datetime(2026, 1, 6, 15, tzinfo=UTC)
    with transaction(session_factory) as s:
        records = service.import_consents(
            session=s, cipher=fc, rows=rows, actor="ops", actor_role="compliance"
        )
    with session_factory() as s:
        assert len(service.load_consents(s, [N1])[N1]) == 1
        assert len(audit.events(session=s, type="consent.recorded")) == 2
        [summary] = audit.events(session=s, type="consent.imported")
    assert json.loads(summary.body) == {"rows": 2, "ids": [records[0].id, records[1].id]}


def test_every_bad_row_is_reported_with_line_and_field():
    text = (
        "number,kind,sellers,channels,purposes,given_at,source,signature,language_sha256\n"
        f"4045550100,pewc,acme,voice,telemarketing,2026-01-05T10:00:00Z,web,e:1,{'a' * 64}\n"
        "12,pec,acme,voice,telemarketing,2026-01-05T10:00:00Z,web,,\n"
        f"4045550100,pewc,*,voice,telemarketing,2026-01-05T10:00:00Z,web,e:1,{'a' * 64}\n"
        "4045550100,pec,acme,fax,telemarketing,2026-01-05,web,,\n"
        "4045550100,pec,acme,voice,telemarketing,2026-01-05T10:00:00Z,web,,,extra-cell\n"
    )
    rows, errors = service.parse_consent_rows(text, "csv")
    got = [(e.line, e.field) for e in errors]
    assert got == [
        (3, "number"),
        (4, "sellers"),
        (5, "channels"),
        (5, "given_at"),
        (6, None),
    ]
    assert len(rows) == 1  # the good one, never imported while errors exist
    failure = bulk.ImportRejected(errors)
    assert "4 bad rows (5 problems)" in failure.message and failure.field == "rows"


def test_header_problems_are_reported_once():
    rows, errors = service.parse_consent_rows("number,kind,seller\n4045550100,pec,a\n", "csv")
    assert rows == []
    assert {(e.line, e.field) for e in errors} == {
        (1, "seller"),
        (1, "sellers"),
        (1, "channels"),
        (1, "purposes"),
        (1, "given_at"),
        (1, "source"),
    }


def test_jsonl_and_json_list_rows():
    good = {
        "number": "4045550100",
        "kind": "pec",
        "sellers": ["acme"],
        "channels": ["sms"],
        "purposes": ["informational"],
        "given_at": "2026-01-05T10:00:00Z",
        "source": "sms",
        "extra": {"keyword": "JOIN"},
    }
    lines = [json.dumps(good), "", "{not json", json.dumps([1]), json.dumps({**good, "x": 1})]
    rows, errors = service.parse_consent_rows("\n".join(lines), "jsonl")
    assert len(rows) == 1 and rows[0].evidence == {"extra": {"keyword": "JOIN"}}
    assert [(e.line, e.field) for e in errors] == [(3, None), (4, None), (5, "x")]
    rows, errors = service.parse_consent_rows(json.dumps([good, {**good, "kind": "x"}]), "json")
    assert len(rows) == 1 and [(e.line, e.field) for e in errors] == [(2, "kind")]
    # a JSON number is read as written, like the same digits in text
    rows, errors = service.parse_consent_rows(
        json.dumps([{**good, "number": 4045550100}, {**good, "number": 14045550101}]), "json"
    )
    assert errors == [] and [r.number for r in rows] == [N1, N2]


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("", "csv", "the file is empty"),
        ("number,kind,sellers,channels,purposes,given_at,source\n", "csv", "holds no rows"),
        ("{}", "json", "must be a list"),
        ("[", "json", "not valid JSON"),
    ],
)
def test_unusable_input_is_refused_as_a_whole(text, fmt, message):
    rows, errors = service.parse_consent_rows(text, fmt)
    assert rows == [] and len(errors) == 1 and message in errors[0].message


def test_an_unknown_format_is_refused():
    with pytest.raises(ValidationFailed) as info:
        service.parse_consent_rows("a", "xml")
    assert info.value.field == "format"


def test_too_many_rows_are_refused(monkeypatch):
    monkeypatch.setattr(service, "MAX_IMPORT_ROWS", 2)
    row = "4045550100,pec,a,voice,informational,2026-01-05T10:00:00Z,web\n"
    _, errors = service.parse_consent_rows(
        "number,kind,sellers,channels,purposes,given_at,source\n" + row * 3, "csv"
    )
    assert [(e.line, e.message) for e in errors] == [(4, "more than 2 rows; split the file")]


def test_revocation_rows_classify_their_text(session_factory, fc):
    text = (
        "number,received_at,channel,text,scope,seller\n"
        "4045550100,2026-01-05T10:00:00Z,sms,STOP,,\n"
        "4045550101,2026-01-05T10:00:00Z,sms,ok thanks,,\n"
        "4045550101,2026-01-05T10:00:00Z,ivr,,informational,acme\n"
        "4045550101,2099-01-05T10:00:00Z,sms,stop,all,\n"
        "4045550101,2026-01-05T10:00:00Z,fax,,all,\n"
    )
    rows, errors = service.parse_revocation_rows(text, "csv")
    assert [(e.line, e.field) for e in errors] == [(5, "received_at"), (6, "channel")]
    rows, errors = service.parse_revocation_rows("\n".join(text.splitlines()[:4]), "csv")
    assert errors == []
    assert [(r.revoked, r.method, r.scope, r.seller) for r in rows] == [
        (True, "keyword", "all", "*"),
        (False, "other", "all", "*"),
        (True, "keypress", "informational", "acme"),
    ]
    with transaction(session_factory) as s:
        outcomes = service.import_revocations(
            session=s, cipher=fc, rows=rows, actor="ops", actor_role="compliance"
        )
    assert [o.revoked for o in outcomes] == [True, False, True]
    with session_factory() as s:
        assert len(s.scalars(select(ConsentRevocation)).all()) == 2
        # STOP with scope all is a DNC request; the informational one is not
        assert [e.number for e in dnc.internal_entries(session=s, number=N1)] == [N1]
        assert dnc.internal_entries(session=s, number=N2) == []
        [summary] = audit.events(session=s, type="consent.revocations.imported")
    assert json.loads(summary.body)["not_revocations"] == 1


def test_format_detection():
    assert bulk.format_for("a.jsonl") == "jsonl"
    assert bulk.format_for("application/x-ndjson; charset=utf-8") == "jsonl"
    assert bulk.format_for("application/json") == "json"
    assert bulk.format_for("text/csv") == "csv"
    assert bulk.format_for("application/octet-stream") is None


@pytest.mark.parametrize(
    ("channel", "text", "method"),
    [
        ("email", "Please remove my number from your calling list.", "other"),
        ("letter", "I no longer wish to receive telephone calls from you.", "other"),
        ("agent", "Customer asked to be put on the do-not-call list", "other"),
        ("ivr", "9", "keypress"),
    ],
)
def test_a_request_by_any_other_means_revokes_whatever_its_words(
    session_factory, fc, channel, text, method
):
    """Only a reply's words are classified: text that came by email, letter, an agent or an
    IVR key is the request itself (64.1200(a)(10), (a)(11)), kept encrypted as evidence."""
    outcome = revoke(session_factory, fc, channel=channel, text=text, scope="telemarketing")
    assert outcome.revoked and outcome.method == method and outcome.dnc_entry_id is not None
    with session_factory() as s:
        row = s.get(ConsentRevocation, outcome.revocation.id)
        assert row is not None and row.text != text  # stored encrypted
        assert fc.decrypt(row.text, context=service._text_context(N1)) == text


def test_a_collection_opt_out_reaches_the_internal_list_for_its_medium(session_factory, fc):
    """12 CFR 1006.14(h): "STOP" to collection texts is an opt-out of that medium."""
    outcome = revoke(session_factory, fc, text="STOP", scope="debt_collection")
    assert outcome.revoked and outcome.dnc_entry_id is not None
    with session_factory() as s:
        entry = s.get(DncInternalEntry, outcome.dnc_entry_id)
        assert entry is not None and entry.channel == "sms" and entry.seller == "acme"
