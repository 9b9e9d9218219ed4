"""Field-level encryption of personal data at rest: AES-256-GCM with a per-value nonce.

A token is text: ``v1:`` + base64url(nonce || ciphertext || tag), without padding. The
associated data is a context string naming where the value lives (``table.column``, optionally
with the row's subject), so a ciphertext copied into another column, or another person's row,
fails to decrypt instead of being read back as that other field.

The key lives in ``<data_dir>/keys/field.key`` (mode 0600), created on first use. Losing it
loses every encrypted value: back it up with the database, but never in the same place.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callwarden.errors import CallwardenError

__all__ = [
    "KEY_FILE",
    "CryptoError",
    "FieldCipher",
    "cipher_for",
    "load_or_create_key",
]

KEY_FILE = Path("keys") / "field.key"
VERSION = "v1"
_PREFIX = VERSION + ":"
_NONCE_BYTES = 12  # 96 bits: the GCM nonce size with no extra hashing step
_KEY_BYTES = 32  # AES-256
_TAG_BYTES = 16
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$", re.ASCII)


class CryptoError(CallwardenError):
    """A token is malformed, was tampered with, or belongs to another key or context."""

    code = "decryption_failed"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not _B64URL.match(text):
        raise CryptoError("the encrypted value is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("the encrypted value is not base64url text") from exc


class FieldCipher:
    """Encrypts and decrypts single field values bound to a context string."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise CryptoError(f"a field key is {_KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    @staticmethod
    def generate_key() -> bytes:
        """A new random 256-bit key."""
        return AESGCM.generate_key(bit_length=256)

    @staticmethod
    def _aad(context: str) -> bytes:
        if not context:
            raise ValueError("an encryption context (e.g. table.column) is required")
        # The version is bound too, so a token cannot be re-labelled as another format.
        return f"{VERSION}\x00{context}".encode()

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt text for the given context; every call uses a fresh random nonce."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), self._aad(context))
        return _PREFIX + _b64url(nonce + sealed)

    def decrypt(self, token: str, *, context: str) -> str:
        """Decrypt a token made for the same context; CryptoError if anything does not match."""
        if not isinstance(token, str) or not token.startswith(_PREFIX):
            raise CryptoError("the encrypted value has an unknown format or version")
        raw = _unb64url(token[len(_PREFIX) :])
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise CryptoError("the encrypted value is truncated")
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad(context))
        except InvalidTag:
            raise CryptoError(
                "the encrypted value does not verify: tampered, another key, or another field"
            ) from None
        return plain.decode("utf-8")

    def encrypt_json(self, value: Any, *, context: str) -> str:
        """Encrypt a JSON-serialisable value."""
        return self.encrypt(
            json.dumps(value, sort_keys=True, separators=(",", ":")), context=context
        )

    def decrypt_json(self, token: str, *, context: str) -> Any:
        """Decrypt a value written by `encrypt_json`."""
        return json.loads(self.decrypt(token, context=context))


def load_or_create_key(path: Path) -> bytes:
    """Read the key at `path`, or create it there (mode 0600) when it does not exist.

    Creation writes a temporary file and hard-links it into place, so a reader never sees a
    partial key and two processes starting at once end up sharing whichever key landed first.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = FieldCipher.generate_key()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(_b64url(key) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key(path)  # another process won the race: use its key
    finally:
        os.unlink(tmp)
    return key


def _read_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if os.name == "posix" and mode & 0o077:
        raise CryptoError(
            f"field key {path} is readable by other users (mode {mode & 0o777:o}); "
            "run chmod 600 on it"
        )
    key = _unb64url(path.read_text(encoding="ascii").strip())
    if len(key) != _KEY_BYTES:
        raise CryptoError(f"field key {path} is damaged (not {_KEY_BYTES} bytes)")
    return key


@lru_cache(maxsize=16)
def _cipher_at(path: str) -> FieldCipher:
    return FieldCipher(load_or_create_key(Path(path)))


def cipher_for(data_dir: Path | str) -> FieldCipher:
    """The field cipher of a data directory, its key created on first use (cached per path)."""
    return _cipher_at(str((Path(data_dir) / KEY_FILE).resolve()))
