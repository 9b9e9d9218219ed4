"""Evidence bundles: export a slice of the audit log, and verify one offline.

A bundle is a zip an external auditor checks with no database and no network:

    manifest.json      format, origin, tree size, the exported positions [from_seq, to_seq)
    events.jsonl       the exported events, one per line, byte for byte what their leaf hashes
    leaves.bin         the 32-byte leaf hash of every position 0 .. tree_size-1 (outside the
                       exported range only hashes travel, so no other personal data leaves)
    checkpoints/*.txt  every signed checkpoint up to tree_size, oldest first
    consistency.jsonl  for each pair of consecutive checkpoints, the RFC 9162 consistency proof
                       that the older tree is a prefix of the newer one
    public-key.txt     the log's verifier key (an auditor should pin the one received out of band)

`verify_bundle` recomputes each exported event's leaf hash, the tree root at every checkpoint
size, and each checkpoint's signature. It trusts nothing in the bundle but the key it is given.
"""

from __future__ import annotations

import itertools
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callwarden.audit import log, merkle
from callwarden.audit.checkpoint import CheckpointError, Verifier
from callwarden.audit.models import AuditCheckpoint
from callwarden.db import bind_time, fetch_all, utcnow
from callwarden.errors import CallwardenError

FORMAT = "callwarden-audit-bundle/1"
HASH = 32


class BundleError(CallwardenError):
    """A bundle that cannot be exported as asked."""


@dataclass
class BundleReport:
    """The outcome of verifying a bundle."""

    events: int = 0
    tree_size: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems


def export_bundle(
    session: Session,
    out: Path,
    *,
    since: datetime | None,
    until: datetime | None,
    vkey: str,
) -> dict[str, Any]:
    """Write the events that occurred in [since, until) with everything needed to verify them."""
    cp = log.latest_checkpoint(session)
    if cp is None:
        raise BundleError("no checkpoint exists yet: run `callwarden audit checkpoint` first")
    size = cp.size
    where, params = ["seq < ?"], [size]
    if since is not None:
        where.append("occurred_at >= ?")
        params.append(bind_time(session, since))
    if until is not None:
        where.append("occurred_at < ?")
        params.append(bind_time(session, until))
    bounds = fetch_all(
        session,
        f"SELECT min(seq), max(seq) FROM audit_events WHERE {' AND '.join(where)}",
        tuple(params),
    )[0]
    lo, hi = (0, 0) if bounds[0] is None else (int(bounds[0]), int(bounds[1]) + 1)
    tmp = out.with_name(out.name + ".part")
    n = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("events.jsonl", "w") as fh:
            for row in fetch_all(
                session,
                "SELECT seq, occurred_at, type, actor, actor_role, subject, body"
                " FROM audit_events WHERE seq >= ? AND seq < ? ORDER BY seq",
                (lo, hi),
            ):
                fh.write(log.leaf_bytes(*row) + b"\n")
                n += 1
        with zf.open("leaves.bin", "w") as fh:
            last = -1
            while True:
                rows = fetch_all(
                    session,
                    "SELECT seq, leaf_hash FROM audit_events WHERE seq > ? AND seq < ?"
                    " ORDER BY seq LIMIT 100000",
                    (last, size),
                )
                if not rows:
                    break
                fh.write(b"".join(bytes(r[1]) for r in rows))
                last = rows[-1][0]
        notes = session.scalars(
            select(AuditCheckpoint).where(AuditCheckpoint.size <= size).order_by(AuditCheckpoint.id)
        )
        count = 0
        sizes: list[int] = []
        for count, note in enumerate(notes, start=1):
            zf.writestr(f"checkpoints/{count:06d}.txt", note.note)
            sizes.append(note.size)
        with zf.open("consistency.jsonl", "w") as fh:
            for old, new in itertools.pairwise(sizes):
                nodes = log.prefetched(
                    session, lambda n, a=old, b=new: merkle.consistency_proof(a, b, n)
                )
                proof = merkle.consistency_proof(old, new, nodes)
                line = {"from": old, "to": new, "proof": [p.hex() for p in proof]}
                fh.write(json.dumps(line).encode() + b"\n")
        zf.writestr("public-key.txt", vkey + "\n")
        manifest = {
            "format": FORMAT,
            "origin": log.ORIGIN,
            "tree_size": size,
            "from_seq": lo,
            "to_seq": hi,
            "events": n,
            "checkpoints": count,
            "exported_at": utcnow().isoformat(),
            "range": {
                "from": since.isoformat() if since else None,
                "to": until.isoformat() if until else None,
            },
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    tmp.replace(out)
    return manifest


def verify_bundle(path: Path, *, vkey: str | None = None) -> BundleReport:
    """Check a bundle offline; every problem found is reported, the first one first."""
    report = BundleReport()
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(f"not a readable bundle (truncated or not a zip): {exc}")
        return report
    with zf:
        try:
            _verify(zf, vkey, report)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:  # CRC errors: a damaged file
            report.problems.append(f"the bundle is damaged or truncated: {exc}")
    return report


def _check_consistency(data: bytes, heads: list[Any], report: BundleReport) -> bool:
    """Each checkpoint's tree must be a prefix of the next one's (the proofs say so)."""
    lines = [line for line in data.split(b"\n") if line]
    if len(lines) != max(0, len(heads) - 1):
        report.problems.append(
            f"consistency.jsonl holds {len(lines)} proofs for {len(heads)} checkpoints"
        )
        return False
    for line, old, new in zip(lines, heads, heads[1:], strict=False):
        try:
            item = json.loads(line)
            proof = [bytes.fromhex(p) for p in item["proof"]]
            if (item["from"], item["to"]) != (old.size, new.size):
                raise ValueError("sizes do not match the checkpoints")
            merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
        except (ValueError, KeyError, TypeError, merkle.ProofError) as exc:
            report.problems.append(
                f"consistency proof {old.size} -> {new.size} does not hold: {exc}"
            )
            return False
    return True


def _verify(zf: zipfile.ZipFile, vkey: str | None, report: BundleReport) -> None:
    names = set(zf.namelist())
    for required in (
        "manifest.json",
        "events.jsonl",
        "leaves.bin",
        "public-key.txt",
        "consistency.jsonl",
    ):
        if required not in names:
            report.problems.append(f"the bundle has no {required} (truncated?)")
            return
    try:
        manifest = json.loads(zf.read("manifest.json"))
        size, lo, hi = (
            int(manifest["tree_size"]),
            int(manifest["from_seq"]),
            int(manifest["to_seq"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"manifest.json is malformed: {exc}")
        return
    if manifest.get("format") != FORMAT:
        report.problems.append(f"unknown bundle format {manifest.get('format')!r}")
        return
    if not 0 <= lo <= hi <= size:
        report.problems.append(f"manifest range [{lo}, {hi}) does not fit a tree of size {size}")
        return
    bundled_key = zf.read("public-key.txt").decode().strip()
    if vkey is None:
        report.warnings.append(
            "trusting the key inside the bundle; pass the key you received out of band"
        )
        vkey = bundled_key
    try:
        verifier = Verifier(vkey)
    except CheckpointError as exc:
        report.problems.append(f"verifier key: {exc}")
        return
    heads = []
    for name in sorted(n for n in names if n.startswith("checkpoints/")):
        try:
            heads.append(verifier.verify(zf.read(name)))
        except CheckpointError as exc:
            report.problems.append(f"{name}: {exc}")
            return
    if not heads or heads[-1].size != size:
        report.problems.append(
            f"no signed checkpoint of size {size} (the manifest's tree size) is in the bundle"
        )
        return
    if any(h.origin != log.ORIGIN for h in heads):
        report.problems.append("a checkpoint is for another log (origin differs)")
        return
    if not _check_consistency(zf.read("consistency.jsonl"), heads, report):
        return
    leaves = zf.read("leaves.bin")
    if len(leaves) != size * HASH:
        report.problems.append(
            f"leaves.bin holds {len(leaves) // HASH} leaf hashes, the tree has {size} (truncated?)"
        )
        return
    lines = zf.read("events.jsonl").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != hi - lo:
        report.problems.append(
            f"events.jsonl holds {len(lines)} events, the manifest says {hi - lo} (truncated?)"
        )
        return
    for offset, line in enumerate(lines):
        seq = lo + offset
        try:
            claimed = json.loads(line)["seq"]
        except (ValueError, KeyError, TypeError):
            report.problems.append(f"event line {offset + 1} is not a callwarden event")
            return
        if claimed != seq:
            report.problems.append(f"event line {offset + 1} claims position {claimed}, not {seq}")
            return
        if merkle.leaf_hash(line) != leaves[seq * HASH : (seq + 1) * HASH]:
            report.problems.append(f"event at position {seq} was altered (its leaf hash differs)")
            return
    frontier = merkle.CompactRange()
    pending = sorted(heads, key=lambda h: h.size)
    k = 0
    while k < len(pending) and pending[k].size == 0:
        if pending[k].root != merkle.EMPTY_ROOT:
            report.problems.append("the checkpoint of size 0 has a wrong root")
            return
        k += 1
    for seq in range(size):
        frontier.append(leaves[seq * HASH : (seq + 1) * HASH])
        while k < len(pending) and pending[k].size == frontier.size:
            if frontier.root() != pending[k].root:
                report.problems.append(
                    f"checkpoint of size {pending[k].size} does not match the leaves: the log was "
                    f"changed before position {frontier.size}"
                )
                return
            k += 1
    report.events, report.tree_size, report.checkpoints = len(lines), size, len(heads)
