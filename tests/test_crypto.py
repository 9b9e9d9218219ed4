"""Field-level encryption: round trip, tamper detection, context binding, the key file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwarden.security.crypto import (
    KEY_FILE,
    CryptoError,
    FieldCipher,
    cipher_for,
    load_or_create_key,
)

CIPHER = FieldCipher(FieldCipher.generate_key())


def _raw(token: str) -> bytearray:
    body = token.removeprefix("v1:")
    return bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _token(raw: bytes) -> str:
    return "v1:" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_round_trip_and_token_shape() -> None:
    token = CIPHER.encrypt("Señora Núñez, 404-555-0100", context="consent_records.evidence")
    assert token.startswith("v1:")
    assert "Núñez" not in token and "555" not in token
    raw = _raw(token)
    # 96-bit nonce + ciphertext (same length as the UTF-8 plaintext) + 128-bit tag
    assert len(raw) == 12 + len("Señora Núñez, 404-555-0100".encode()) + 16
    assert CIPHER.decrypt(token, context="consent_records.evidence") == (
        "Señora Núñez, 404-555-0100"
    )


def test_every_value_gets_a_fresh_nonce() -> None:
    a = CIPHER.encrypt("same", context="t.c")
    b = CIPHER.encrypt("same", context="t.c")
    assert a != b and _raw(a)[:12] != _raw(b)[:12]


def test_json_round_trip() -> None:
    value = {"ip": "203.0.113.7", "extra": {"campaign": "fall", "n": 3}, "signature": None}
    token = CIPHER.encrypt_json(value, context="t.c")
    assert CIPHER.decrypt_json(token, context="t.c") == value


@pytest.mark.parametrize("position", [0, 11, 12, -17, -1])
def test_any_flipped_bit_is_detected(position: int) -> None:
    token = CIPHER.encrypt("the consumer said yes", context="t.c")
    raw = _raw(token)
    raw[position] ^= 0x01
    with pytest.raises(CryptoError, match="does not verify"):
        CIPHER.decrypt(_token(raw), context="t.c")


def test_truncated_or_foreign_tokens_are_rejected() -> None:
    token = CIPHER.encrypt("x", context="t.c")
    with pytest.raises(CryptoError, match="truncated"):
        CIPHER.decrypt(_token(_raw(token)[:20]), context="t.c")
    with pytest.raises(CryptoError, match="unknown format"):
        CIPHER.decrypt("v2:" + token[3:], context="t.c")
    with pytest.raises(CryptoError, match="unknown format"):
        CIPHER.decrypt("plain text", context="t.c")
    with pytest.raises(CryptoError, match="base64url"):
        CIPHER.decrypt("v1:not base64!", context="t.c")


def test_a_value_cannot_move_to_another_column_or_key() -> None:
    token = CIPHER.encrypt("203.0.113.7", context="consent_records.evidence")
    with pytest.raises(CryptoError):
        CIPHER.decrypt(token, context="consent_revocations.text")
    other = FieldCipher(FieldCipher.generate_key())
    with pytest.raises(CryptoError):
        other.decrypt(token, context="consent_records.evidence")


def test_a_context_is_required() -> None:
    with pytest.raises(ValueError):
        CIPHER.encrypt("x", context="")


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300), context=st.text(min_size=1, max_size=40))
def test_round_trip_property(text: str, context: str) -> None:
    token = CIPHER.encrypt(text, context=context)
    assert CIPHER.decrypt(token, context=context) == text
    with pytest.raises(CryptoError):
        CIPHER.decrypt(token, context=context + "x")


def test_key_file_created_0600_once_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cipher = cipher_for(data_dir)
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = cipher.encrypt("kept", context="t.c")
    assert cipher_for(data_dir) is cipher  # cached per path
    # a fresh process (no cache) reads the same key back
    assert FieldCipher(load_or_create_key(path)).decrypt(token, context="t.c") == "kept"
    assert load_or_create_key(path) == load_or_create_key(path)


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "field.key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(CryptoError, match="chmod 600"):
        load_or_create_key(path)


def test_a_damaged_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "field.key"
    path.write_text("c2hvcnQ\n")
    os.chmod(path, 0o600)
    with pytest.raises(CryptoError, match="damaged"):
        load_or_create_key(path)
    with pytest.raises(CryptoError):
        FieldCipher(b"short")
