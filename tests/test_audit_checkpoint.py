"""Signed checkpoints: the signed-note format, strict parsing, tampering, the key file."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwarden.audit.checkpoint import (
    MAX_NOTE_BYTES,
    Checkpoint,
    CheckpointError,
    Signer,
    Verifier,
    key_id,
    load_or_create_signer,
)
from callwarden.audit.merkle import EMPTY_ROOT, leaf_hash
from callwarden.errors import CallwardenError

ORIGIN = "callwarden.example/audit"
ROOT = leaf_hash(b"root")
WHEN = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
CP = Checkpoint(origin=ORIGIN, size=1234, root=ROOT, time=WHEN)

KEY = Ed25519PrivateKey.generate()
SIGNER = Signer(ORIGIN, KEY)
VERIFIER = SIGNER.verifier()
NOTE = SIGNER.sign(CP)

fast = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sign_raw(body: str, signer: Signer = SIGNER, key: Ed25519PrivateKey = KEY) -> bytes:
    """Sign arbitrary body text, so the parser is tested behind a valid signature."""
    raw = body.encode()
    sig = base64.b64encode(signer.key_id + key.sign(raw)).decode()
    return raw + f"\n— {signer.name} {sig}\n".encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------------------------
# Format and interoperability
# --------------------------------------------------------------------------------------------


def test_body_is_the_tlog_checkpoint_text_with_a_time_extension() -> None:
    assert (
        CP.body()
        == (f"callwarden.example/audit\n1234\n{b64(ROOT)}\ntime 2026-11-28T12:00:00Z\n").encode()
    )


def test_note_layout() -> None:
    body, _, sig = NOTE.partition(b"\n\n")
    assert body + b"\n" == CP.body()
    line = sig.decode()
    assert line.startswith(f"— {ORIGIN} ") and line.endswith("\n") and line.count("\n") == 1
    blob = base64.b64decode(line.split(" ")[2])
    assert len(blob) == 68 and blob[:4] == SIGNER.key_id


def test_round_trip() -> None:
    assert VERIFIER.verify(NOTE) == CP
    assert VERIFIER.verify(NOTE, origin=ORIGIN) == CP


# golang.org/x/mod/sumdb/note reference vector (the signed-note spec's example).
GO_SKEY_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


def test_key_id_and_verifier_key_match_the_signed_note_reference() -> None:
    go_key = Ed25519PrivateKey.from_private_bytes(GO_SKEY_SEED)
    signer = Signer("PeterNeumann", go_key)
    assert signer.key_id.hex() == "c74f20a3"
    assert key_id("PeterNeumann", signer.public_key) == bytes.fromhex("c74f20a3")
    assert signer.public_key_text() == GO_VKEY
    # Same key id prefix and signature as Go's note.Sign over the example text.
    assert b64(signer.key_id + go_key.sign(GO_TEXT)) == GO_SIG
    verifier = Verifier(GO_VKEY)
    assert (verifier.name, verifier.key_id.hex()) == ("PeterNeumann", "c74f20a3")
    assert verifier.public_key == signer.public_key


def test_go_example_note_is_not_a_checkpoint() -> None:
    note = GO_TEXT + b"\n\xe2\x80\x94 PeterNeumann " + GO_SIG.encode() + b"\n"
    # The signature is good, but the body has 2 lines, not a checkpoint's 4.
    with pytest.raises(CheckpointError, match="4 lines"):
        Verifier(GO_VKEY).verify(note)


@fast
@given(
    origin=st.text(
        st.characters(min_codepoint=0x20, exclude_categories=["Cs", "Zl", "Zp", "Cc"]),
        min_size=1,
        max_size=80,
    ).filter(lambda s: s == s.strip()),
    size=st.integers(0, 2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    when=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
)
def test_round_trip_of_any_checkpoint(origin: str, size: int, root: bytes, when: datetime) -> None:
    cp = Checkpoint(origin=origin, size=size, root=root, time=when)
    assert VERIFIER.verify(SIGNER.sign(cp)) == cp
    assert cp.time == when.replace(microsecond=0)


def test_time_is_normalised_to_utc_seconds() -> None:
    plus2 = timezone(timedelta(hours=2))
    cp = Checkpoint(ORIGIN, 1, ROOT, datetime(2026, 11, 28, 14, 0, 0, 999_999, tzinfo=plus2))
    assert cp.time == WHEN and cp.time.tzinfo is UTC
    assert b"time 2026-11-28T12:00:00Z\n" in cp.body()
    early = Checkpoint(ORIGIN, 1, ROOT, datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert b"time 0999-01-02T03:04:05Z\n" in early.body()
    assert VERIFIER.verify(SIGNER.sign(early)) == early


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": " lead"},
        {"origin": "trail "},
        {"origin": "two\nlines"},
        {"origin": "tab\there"},
        {"size": -1},
        {"size": 2**63},
        {"size": True},
        {"size": 1.0},
        {"root": ROOT[:31]},
        {"root": ROOT.hex()},
        {"time": datetime(2026, 11, 28, 12, 0)},  # naive
        {"time": "2026-11-28T12:00:00Z"},
    ],
)
def test_checkpoint_rejects_bad_fields(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 1, "root": ROOT, "time": WHEN}
    fields.update(kwargs)
    with pytest.raises(CheckpointError):
        Checkpoint(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Tampering
# --------------------------------------------------------------------------------------------


def _with_body(note: bytes, body: bytes) -> bytes:
    """Keep the signature line, replace the body."""
    return body + b"\n" + note.split(b"\n\n", 1)[1]


@pytest.mark.parametrize(
    "changed",
    [
        Checkpoint(ORIGIN, 1235, ROOT, WHEN),
        Checkpoint(ORIGIN, 1233, ROOT, WHEN),
        Checkpoint(ORIGIN, 1234, EMPTY_ROOT, WHEN),
        Checkpoint(ORIGIN + "x", 1234, ROOT, WHEN),
        Checkpoint(ORIGIN, 1234, ROOT, WHEN + timedelta(seconds=1)),
        Checkpoint(ORIGIN, 1234, ROOT, WHEN - timedelta(days=365)),
    ],
)
def test_changing_any_field_breaks_the_signature(changed: Checkpoint) -> None:
    with pytest.raises(CheckpointError, match="does not verify"):
        VERIFIER.verify(_with_body(NOTE, changed.body()))


def test_signature_by_another_key_is_rejected() -> None:
    other_same_name = Signer.generate(ORIGIN)
    with pytest.raises(CheckpointError, match="unknown key id"):
        VERIFIER.verify(other_same_name.sign(CP))
    other_name = Signer.generate("someone.else/log")
    with pytest.raises(CheckpointError, match="unknown key name"):
        VERIFIER.verify(other_name.sign(CP))
    with pytest.raises(CheckpointError, match="unknown key id"):
        other_same_name.verifier().verify(NOTE)


def test_wrong_origin_is_rejected() -> None:
    with pytest.raises(CheckpointError, match="expected"):
        VERIFIER.verify(NOTE, origin="another.log")


def test_every_bit_flip_in_the_signature_blob_is_rejected() -> None:
    body, sig_line = NOTE.split(b"\n\n")
    prefix, blob = sig_line.rstrip(b"\n").rsplit(b" ", 1)
    raw = base64.b64decode(blob)
    for bit in range(len(raw) * 8):
        bad = bytearray(raw)
        bad[bit // 8] ^= 1 << (bit % 8)
        note = body + b"\n\n" + prefix + b" " + base64.b64encode(bytes(bad)) + b"\n"
        with pytest.raises(CheckpointError):
            VERIFIER.verify(note)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(NOTE) - 1), st.integers(0, 7)),
    st.tuples(st.just("insert"), st.integers(0, len(NOTE)), st.binary(min_size=1, max_size=3)),
    st.tuples(st.just("delete"), st.integers(0, len(NOTE) - 1), st.integers(1, 5)),
    st.tuples(st.just("truncate"), st.integers(0, len(NOTE) - 1), st.just(0)),
    st.tuples(st.just("append"), st.just(0), st.binary(min_size=1, max_size=80)),
    st.tuples(st.just("dupline"), st.integers(0, 5), st.just(0)),
)


def _mutate(note: bytes, op: tuple[str, int, object]) -> bytes:
    kind, pos, arg = op
    if not note:
        return note + (arg if isinstance(arg, bytes) else b"x")
    pos %= len(note) + (1 if kind == "insert" else 0)  # earlier ops may have shortened it
    if kind == "flip":
        assert isinstance(arg, int)
        b = bytearray(note)
        b[pos] ^= 1 << arg
        return bytes(b)
    if kind == "insert":
        assert isinstance(arg, bytes)
        return note[:pos] + arg + note[pos:]
    if kind == "delete":
        assert isinstance(arg, int)
        return note[:pos] + note[pos + arg :]
    if kind == "truncate":
        return note[:pos]
    if kind == "append":
        assert isinstance(arg, bytes)
        return note + arg
    lines = note.split(b"\n")
    i = pos % len(lines)
    return b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])


@fast
@given(st.lists(mutation, min_size=1, max_size=3))
def test_any_mutation_of_a_signed_note_is_rejected(ops: list[tuple[str, int, object]]) -> None:
    note = NOTE
    for op in ops:
        note = _mutate(note, op)
    if note == NOTE:
        return
    with pytest.raises(CheckpointError):
        VERIFIER.verify(note)


@fast
@given(st.binary(max_size=400))
def test_garbage_is_rejected_with_checkpoint_error(data: bytes) -> None:
    with pytest.raises(CheckpointError):
        VERIFIER.verify(data)


# --------------------------------------------------------------------------------------------
# Strict parsing behind a valid signature
# --------------------------------------------------------------------------------------------

GOOD_ROOT = b64(ROOT)
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()
ZERO_KEY_01 = b64(b"\x01" + bytes(32))
ZERO_KEY_02 = b64(b"\x02" + bytes(32))
SHORT_KEY_01 = b64(b"\x01" + bytes(31))
GOOD_TIME = "time 2026-11-28T12:00:00Z"


def test_sign_raw_helper_matches_signer() -> None:
    assert sign_raw(CP.body().decode()) == NOTE


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n01\n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),
        (f"{ORIGIN}\n00\n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),
        (f"{ORIGIN}\n+1\n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),
        (f"{ORIGIN}\n-1\n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),
        (f"{ORIGIN}\n 1\n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),
        (f"{ORIGIN}\n1 \n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),
        (f"{ORIGIN}\n1_000\n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),
        (f"{ORIGIN}\n\u0661\n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),  # Arabic-Indic 1
        (f"{ORIGIN}\n0x10\n{GOOD_ROOT}\n{GOOD_TIME}\n", "leading zeros"),
        (f"{ORIGIN}\n{2**63}\n{GOOD_ROOT}\n{GOOD_TIME}\n", "out of range"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT.rstrip('=')}\n{GOOD_TIME}\n", "base64"),
        (f"{ORIGIN}\n5\n{ROOT.hex()}\n{GOOD_TIME}\n", "48 bytes"),  # hex is base64 too
        (f"{ORIGIN}\n5\n{b64(ROOT[:31])}\n{GOOD_TIME}\n", "31 bytes"),
        (f"{ORIGIN}\n5\n{b64(ROOT + b'!')}\n{GOOD_TIME}\n", "33 bytes"),
        (f"{ORIGIN}\n5\n{URLSAFE_ROOT}\n{GOOD_TIME}\n", "base64"),
        (f"{ORIGIN}\n5\n {GOOD_ROOT}\n{GOOD_TIME}\n", "base64"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\n", "4 lines"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\n{GOOD_TIME}\nextra line\n", "4 lines"),
        (f"5\n{GOOD_ROOT}\n{GOOD_TIME}\n", "4 lines"),
        (f" {ORIGIN}\n5\n{GOOD_ROOT}\n{GOOD_TIME}\n", "origin"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-11-28T12:00:00+00:00\n", "time line"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-11-28T12:00:00.5Z\n", "time line"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-11-28t12:00:00z\n", "time line"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-11-28 12:00:00Z\n", "time line"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime  2026-11-28T12:00:00Z\n", "time line"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\nTime 2026-11-28T12:00:00Z\n", "time line"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-11-28T12:00Z\n", "time line"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-11-28T12:00:00Z \n", "time line"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-13-01T12:00:00Z\n", "not a valid date"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-02-29T12:00:00Z\n", "not a valid date"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-11-28T24:00:00Z\n", "not a valid date"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 2026-11-28T23:59:60Z\n", "not a valid date"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\ntime 0000-01-01T00:00:00Z\n", "not a valid date"),
        (f"{ORIGIN}\n5\n{GOOD_ROOT}\n{GOOD_TIME}", "blank line"),
    ],
)
def test_parser_rejects_malformed_bodies_even_when_signed(body: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        VERIFIER.verify(sign_raw(body))


def test_non_canonical_base64_root_is_rejected() -> None:
    # The last base64 digit of a 32-byte value carries 2 padding bits; setting them changes the
    # text but not the decoded bytes, which would give one checkpoint two spellings.
    good = GOOD_ROOT
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(good[-2])
    bad = good[:-2] + alphabet[last | 1] + "="
    assert bad != good and base64.b64decode(bad) == ROOT
    with pytest.raises(CheckpointError, match="canonical"):
        VERIFIER.verify(sign_raw(f"{ORIGIN}\n5\n{bad}\n{GOOD_TIME}\n"))


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (NOTE.replace(b"\n", b"\r\n"), "control characters"),
        (b"\xef\xbb\xbf" + NOTE, "does not verify"),  # a BOM is part of the signed text
        (NOTE + NOTE.split(b"\n\n")[1], "exactly 1 signature"),
        (NOTE + b"\n", "exactly 1 signature"),
        (NOTE + b"trailing", "newline"),
        (NOTE[:-1], "newline"),
        (NOTE.replace("\n\n— ".encode(), b"\n\n-- "), "em dash"),
        (NOTE.replace("\n\n— ".encode(), "\n\n—".encode()), "em dash"),
        (NOTE.replace(f"— {ORIGIN} ".encode(), f"— {ORIGIN}  ".encode()), "signature line"),
        (NOTE.replace(b"\n\n", b"\n"), "blank line"),
        (b"\xff" + NOTE, "UTF-8"),
        (NOTE + b" " * MAX_NOTE_BYTES, "longer than"),
        (NOTE.replace(b"\n\n", b"\n\x00\n"), "control characters"),
    ],
)
def test_malformed_notes_are_rejected(note: bytes, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        VERIFIER.verify(note)


def test_bad_signature_blobs_are_rejected() -> None:
    body = CP.body()
    good = KEY.sign(body)
    for blob, message in [
        (SIGNER.key_id + good[:63], "4-byte key id"),
        (SIGNER.key_id + good + b"\0", "4-byte key id"),
        (good, "4-byte key id"),
        (b"\0\0\0\0" + good, "unknown key id"),
        (SIGNER.key_id + bytes(64), "does not verify"),
    ]:
        note = body + f"\n— {ORIGIN} {b64(blob)}\n".encode()
        with pytest.raises(CheckpointError, match=message):
            VERIFIER.verify(note)


def test_verify_requires_bytes() -> None:
    with pytest.raises(CheckpointError):
        VERIFIER.verify(NOTE.decode())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def test_verifier_key_round_trip_and_mangling() -> None:
    vkey = SIGNER.public_key_text()
    name, id_hex, blob = vkey.split("+", 2)
    assert name == ORIGIN and id_hex == SIGNER.key_id.hex()
    assert base64.b64decode(blob) == b"\x01" + SIGNER.public_key
    assert Verifier(vkey).public_key == SIGNER.public_key
    # As in Go's note tests: no proper substring and no one-character change is a valid key.
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(CheckpointError):
                    Verifier(vkey[i:j])
    for i, c in enumerate(vkey):
        with pytest.raises(CheckpointError):
            Verifier(vkey[:i] + chr(ord(c) + 1) + vkey[i + 1 :])


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "name",
        "a+b+c+d",
        f"{ORIGIN}+C74F20A3+{ZERO_KEY_01}",
        f"{ORIGIN}+{key_id(ORIGIN, bytes(32)).hex()}+{ZERO_KEY_02}",
        f"{ORIGIN}+{key_id(ORIGIN, bytes(31)).hex()}+{SHORT_KEY_01}",
    ],
)
def test_malformed_verifier_keys(vkey: str) -> None:
    with pytest.raises(CheckpointError):
        Verifier(vkey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\t", "new\nline", " lead"])
def test_bad_key_names(name: str) -> None:
    with pytest.raises(CheckpointError):
        Signer.generate(name)


def test_pem_round_trip() -> None:
    again = Signer.from_pem(SIGNER.private_pem(), ORIGIN)
    assert again.public_key_text() == SIGNER.public_key_text()
    assert VERIFIER.verify(again.sign(CP)) == CP


def test_from_pem_rejects_other_keys() -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(CheckpointError, match="Ed25519"):
        Signer.from_pem(ec_pem, ORIGIN)
    with pytest.raises(CheckpointError, match="PEM"):
        Signer.from_pem(b"not a key", ORIGIN)


def test_load_or_create_signer(tmp_path: Path) -> None:
    path = tmp_path / "data" / "keys" / "checkpoint.pem"
    first = load_or_create_signer(path, ORIGIN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pem"]  # no temp files
    second = load_or_create_signer(path, ORIGIN)
    assert second.public_key_text() == first.public_key_text()
    assert first.verifier().verify(second.sign(CP)) == CP


def test_load_or_create_signer_keeps_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(SIGNER.private_pem())
    assert load_or_create_signer(path, ORIGIN).public_key == SIGNER.public_key


def test_load_or_create_signer_refuses_a_readable_key(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pem"
    load_or_create_signer(path, ORIGIN)
    path.chmod(0o644)
    with pytest.raises(CheckpointError, match="chmod 600"):
        load_or_create_signer(path, ORIGIN)


def test_load_or_create_signer_rejects_a_corrupt_key(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pem"
    path.write_bytes(b"garbage")
    path.chmod(0o600)
    with pytest.raises(CheckpointError):
        load_or_create_signer(path, ORIGIN)
    assert path.read_bytes() == b"garbage"  # never overwritten


def test_checkpoint_error_is_a_callwarden_error() -> None:
    assert issubclass(CheckpointError, CallwardenError)
    assert CheckpointError.code == "checkpoint_invalid"
