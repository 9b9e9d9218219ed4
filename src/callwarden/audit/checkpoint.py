"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

A signed checkpoint is this text (UTF-8, every line ends with a newline)::

    <origin>
    <tree size, decimal, no leading zeros>
    <root hash, standard base64 with padding>
    time <UTC time, YYYY-MM-DDTHH:MM:SSZ>

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>

The first three lines are the C2SP tlog-checkpoint body. The ``time`` line is a checkpoint
extension line (the format allows extension lines after the root hash): it records when the log
vouched for this tree, to whole seconds in UTC, and it is covered by the signature like the rest
of the body. The signature is over the body bytes, up to and including the newline that ends the
``time`` line; the key id and verifier key string follow the C2SP signed-note spec, so the notes
can be checked by other tools that speak that format (given our verifier key).

`Verifier.verify` is strict on purpose: a note is accepted only in the exact form `Signer.sign`
writes, with exactly one signature line, made by the verifier's key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from callwarden.audit.merkle import HASH_SIZE
from callwarden.errors import CallwardenError

__all__ = [
    "MAX_NOTE_BYTES",
    "Checkpoint",
    "CheckpointError",
    "Signer",
    "Verifier",
    "key_id",
    "load_or_create_signer",
]

_ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "  # em dash, space: the signed-note signature line marker
_MAX_SIZE = (1 << 63) - 1  # tree sizes are uint64 in the Go ecosystem; int64 in databases
MAX_NOTE_BYTES = 4096
"""Upper bound on a signed checkpoint; real ones are about 200 bytes."""

_SIZE_RE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_TIME_RE = re.compile(
    r"time ([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z", re.ASCII
)
_HEX8_RE = re.compile(r"[0-9a-f]{8}", re.ASCII)


class CheckpointError(CallwardenError):
    """A checkpoint or signed note is malformed, not ours, or its signature does not verify."""

    code = "checkpoint_invalid"


def _has_control_or_space_edge(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) or text != text.strip()


def _check_origin(origin: str) -> None:
    if not isinstance(origin, str) or not origin:
        raise CheckpointError("checkpoint origin must be a non-empty string")
    if _has_control_or_space_edge(origin):
        raise CheckpointError(
            "checkpoint origin must be one line with no control characters "
            "and no leading or trailing space"
        )


def _check_key_name(name: str) -> None:
    # Signed-note rule: a key name is non-empty and has no spaces and no '+' (the vkey separator).
    if not isinstance(name, str) or not name:
        raise CheckpointError("key name must be a non-empty string")
    if "+" in name or any(c.isspace() for c in name) or _has_control_or_space_edge(name):
        raise CheckpointError(f"key name {name!r} must not contain '+', spaces or control chars")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Decode standard padded base64, accepting only the one canonical spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise CheckpointError(f"{what} is not valid base64") from exc
    # b64decode tolerates non-zero padding bits; re-encoding catches those alternative spellings.
    if _b64encode(raw) != text:
        raise CheckpointError(f"{what} is not canonical base64")
    return raw


def key_id(name: str, public_key: bytes) -> bytes:
    """Return the signed-note key id: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([_ALG_ED25519]) + public_key
    ).digest()[:4]


def _format_time(when: datetime) -> str:
    # By hand rather than strftime, whose %Y does not zero-pad years below 1000 on glibc.
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
        f"T{when.hour:02d}:{when.minute:02d}:{when.second:02d}Z"
    )


@dataclass(frozen=True)
class Checkpoint:
    """A tree head the log vouches for: origin, size, root hash and time (UTC, whole seconds)."""

    origin: str
    size: int
    root: bytes
    time: datetime

    def __post_init__(self) -> None:
        """Validate, and normalise time to UTC whole seconds (what the text form can carry)."""
        _check_origin(self.origin)
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise CheckpointError("checkpoint size must be an integer")
        if not 0 <= self.size <= _MAX_SIZE:
            raise CheckpointError(f"checkpoint size {self.size} is out of range")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root must be {HASH_SIZE} bytes")
        if not isinstance(self.time, datetime) or self.time.utcoffset() is None:
            raise CheckpointError("checkpoint time must be a timezone-aware datetime")
        try:
            when = self.time.astimezone(UTC).replace(microsecond=0)
        except OverflowError as exc:
            raise CheckpointError("checkpoint time is out of range") from exc
        # Frozen dataclass: normalising needs object.__setattr__, once, before anyone sees it.
        object.__setattr__(self, "time", when)

    def body(self) -> bytes:
        """Return the note body that gets signed: four lines, each ending in a newline."""
        return (
            f"{self.origin}\n{self.size}\n{_b64encode(self.root)}\ntime {_format_time(self.time)}\n"
        ).encode()


def _parse_body(body: str) -> Checkpoint:
    """Parse the body text (without its final newline) strictly."""
    lines = body.split("\n")
    if len(lines) != 4:
        raise CheckpointError(
            f"checkpoint body must have 4 lines (origin, size, root, time), got {len(lines)}"
        )
    origin, size_text, root_text, time_line = lines
    _check_origin(origin)
    if not _SIZE_RE.fullmatch(size_text):
        raise CheckpointError("checkpoint size must be a decimal number without leading zeros")
    size = int(size_text)
    if size > _MAX_SIZE:
        raise CheckpointError(f"checkpoint size {size_text} is out of range")
    root = _b64decode(root_text, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    match = _TIME_RE.fullmatch(time_line)
    if match is None:
        raise CheckpointError("checkpoint time line must be 'time YYYY-MM-DDTHH:MM:SSZ'")
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise CheckpointError("checkpoint time is not a valid date and time") from exc
    return Checkpoint(origin=origin, size=size, root=root, time=when)


class Signer:
    """Signs checkpoints with an Ed25519 key under a signed-note key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Wrap an existing key; see `generate`, `from_pem` and `load_or_create_signer`."""
        _check_key_name(name)
        self.name = name
        self._key = private_key
        self._public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(name, self._public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """Create a signer with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes, name: str) -> Signer:
        """Load an unencrypted PKCS#8 PEM Ed25519 private key (the name is not in the PEM)."""
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise CheckpointError("not an unencrypted PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError("the checkpoint signing key must be an Ed25519 key")
        return cls(name, key)

    def private_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM (store it mode 0600)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public

    def public_key_text(self) -> str:
        """Return the signed-note verifier key: name+<key id hex>+base64(0x01 || public key)."""
        blob = _b64encode(bytes([_ALG_ED25519]) + self._public)
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    def verifier(self) -> Verifier:
        """Return the matching verifier."""
        return Verifier(self.public_key_text())

    def sign(self, checkpoint: Checkpoint) -> bytes:
        """Return the full signed note: body, blank line, one signature line."""
        body = checkpoint.body()
        signature = self._key.sign(body)
        line = f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + signature)}\n"
        return body + b"\n" + line.encode()


class Verifier:
    """Checks signed checkpoints against one signed-note verifier key."""

    def __init__(self, vkey: str) -> None:
        """Parse a verifier key `name+<8 hex digits>+base64(0x01 || 32-byte Ed25519 key)`."""
        parts = vkey.split("+", 2) if isinstance(vkey, str) else []  # base64 may hold "+"
        if len(parts) != 3:
            raise CheckpointError("verifier key must be name+keyid+key")
        name, id_hex, blob = parts
        _check_key_name(name)
        if not _HEX8_RE.fullmatch(id_hex):
            raise CheckpointError("verifier key id must be 8 lowercase hex digits")
        raw = _b64decode(blob, "verifier key")
        if len(raw) != 33 or raw[0] != _ALG_ED25519:
            raise CheckpointError("verifier key must be an Ed25519 key (0x01 and 32 bytes)")
        public = raw[1:]
        if key_id(name, public).hex() != id_hex:
            raise CheckpointError("verifier key id does not match its name and key")
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public)
        except ValueError as exc:  # pragma: no cover - any 32 bytes load; checked at verify
            raise CheckpointError("verifier key is not a valid Ed25519 public key") from exc
        self.name = name
        self.key_id = bytes.fromhex(id_hex)
        self.public_key = public

    def verify(self, note: bytes, *, origin: str | None = None) -> Checkpoint:
        """Return the checkpoint in `note` if it is well formed and signed by this key.

        If `origin` is given the checkpoint must be for that log. Raises CheckpointError.
        """
        if not isinstance(note, bytes):
            raise CheckpointError("a signed note must be bytes")
        if len(note) > MAX_NOTE_BYTES:
            raise CheckpointError(f"signed note is longer than {MAX_NOTE_BYTES} bytes")
        try:
            text = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError("signed note is not valid UTF-8") from exc
        if any((ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F for c in text):
            raise CheckpointError("signed note contains control characters")
        # Body lines are never empty, so the first blank line is the separator.
        sep = text.find("\n\n")
        if sep < 0:
            raise CheckpointError("signed note has no blank line before its signatures")
        body_text = text[: sep + 1]
        signatures = text[sep + 2 :]
        if not signatures.endswith("\n"):
            raise CheckpointError("signed note must end with a newline")
        sig_lines = signatures[:-1].split("\n")
        if len(sig_lines) != 1:
            raise CheckpointError(
                f"signed note must have exactly 1 signature line, not {len(sig_lines)}"
            )
        self._check_signature(sig_lines[0], body_text.encode("utf-8"))
        checkpoint = _parse_body(body_text[:-1])
        if origin is not None and checkpoint.origin != origin:
            raise CheckpointError(
                f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}"
            )
        return checkpoint

    def _check_signature(self, line: str, body: bytes) -> None:
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError("signature line must start with an em dash and a space")
        fields = line[len(_SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise CheckpointError("signature line must be '— <key name> <signature>'")
        name, blob = fields
        if name != self.name:
            raise CheckpointError(f"signature by unknown key name {name!r}")
        raw = _b64decode(blob, "signature")
        if len(raw) != 4 + 64:
            raise CheckpointError("signature must be a 4-byte key id and a 64-byte Ed25519 sig")
        if raw[:4] != self.key_id:
            raise CheckpointError(f"signature by unknown key id {raw[:4].hex()} for {name!r}")
        try:
            self._key.verify(raw[4:], body)
        except InvalidSignature as exc:
            raise CheckpointError("checkpoint signature does not verify") from exc


def load_or_create_signer(path: Path, name: str) -> Signer:
    """Load the checkpoint key at `path`, or create it there (mode 0600) if it does not exist.

    Creation writes a temporary file and hard-links it into place, so a reader never sees a
    partial key and two processes starting at once end up sharing whichever key landed first.
    """
    try:
        return _load_signer(path, name)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    signer = Signer.generate(name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)  # mkstemp already uses 0600; be explicit about the requirement
        with os.fdopen(fd, "wb") as fh:
            fh.write(signer.private_pem())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            # Another process won the race: use its key, not ours.
            return _load_signer(path, name)
        _fsync_dir(path.parent)
    finally:
        os.unlink(tmp)
    return signer


def _load_signer(path: Path, name: str) -> Signer:
    mode = path.stat().st_mode
    if os.name == "posix" and mode & 0o077:
        raise CheckpointError(
            f"checkpoint key {path} is readable by other users (mode {mode & 0o777:o}); "
            "run chmod 600 on it"
        )
    return Signer.from_pem(path.read_bytes(), name)


def _fsync_dir(directory: Path) -> None:
    """Make the new directory entry durable (POSIX only; a no-op where dirs cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
