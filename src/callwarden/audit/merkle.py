"""RFC 9162 (Certificate Transparency v2) Merkle tree math: hashes, roots, proofs, verifiers.

Pure and storage-independent: the tree is read through a `NodeSource`, which serves the hash of
any complete ("perfect") subtree, the way Trillian Tessera serves tiles. Only SHA-256 is used.

Coordinates: node ``(level, index)`` is the root of the perfect subtree of ``2**level`` leaves that
starts at leaf ``index * 2**level``. Level 0 holds the leaf hashes themselves.

The verifiers are the security boundary (immudb's CVE-2022-36111 was a client that accepted a
forged proof): they never return a bool, they raise `ProofError`, and they follow the RFC 9162
§2.1.3.2 and §2.1.4.2 algorithms step by step, after checking every length and size up front.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from callwarden.errors import CallwardenError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "InMemoryTree",
    "NodeSource",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_leaves",
    "subtree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256
_LEAF = b"\x00"
_NODE = b"\x01"

EMPTY_ROOT = _sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1)."""


class ProofError(CallwardenError):
    """A proof, root, size or index failed verification, or is malformed."""

    code = "proof_invalid"


def leaf_hash(data: bytes) -> bytes:
    """Return MTH({d}) = SHA-256(0x00 || d), the hash of one leaf."""
    return _sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right), the hash of an interior node."""
    return _sha256(_NODE + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """Return k, the largest power of two strictly smaller than n (n >= 2): RFC 9162's split."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte SHA-256 hash, got {got}")


# --------------------------------------------------------------------------------------------
# Roots
# --------------------------------------------------------------------------------------------


class CompactRange:
    """The frontier of a growing tree: the roots of its perfect subtrees, left to right.

    Holds O(log n) hashes, so a verifier can stream any number of leaves and ask for the root at
    every checkpoint size along the way. The i-th hash (from the left) covers the i-th set bit of
    `size`, from the most significant down.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Start empty, or resume from a saved `size` and its `hashes` (see `hashes`)."""
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} frontier hashes")
        for h in hashes:
            _check_hash(h, "frontier hash")
        self._size = size
        self._hashes = [bytes(h) for h in hashes]

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        """The perfect-subtree roots, largest (leftmost) first: enough to resume or get a root."""
        return list(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf hashes in order (the hot loop of root computation, kept inline)."""
        stack = self._hashes
        n = self._size
        sha = _sha256
        node = _NODE
        try:
            for h in leaves:
                if len(h) != HASH_SIZE:
                    raise ProofError(f"leaf hash {n} is {len(h)} bytes, not {HASH_SIZE}")
                n += 1
                # Each trailing zero bit of the new size is a pair of equal perfect subtrees
                # that has just become complete: merge them, like binary carry propagation.
                m = n
                while not m & 1:
                    h = sha(node + stack.pop() + h).digest()
                    m >>= 1
                stack.append(h)
        finally:
            # Keep size and stack in step even if a bad leaf stopped us half way.
            self._size = n

    def root(self) -> bytes:
        """Return MTH of the leaves so far: fold the frontier from the right (RFC 9162 §2.1.1)."""
        if not self._hashes:
            return EMPTY_ROOT
        it = reversed(self._hashes)
        h = next(it)
        for left in it:
            h = node_hash(left, h)
        return h


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the RFC 9162 Merkle Tree Hash of leaf hashes (iterative, O(log n) memory)."""
    cr = CompactRange()
    cr.extend(leaf_hashes)
    return cr.root()


# --------------------------------------------------------------------------------------------
# Reading a stored tree
# --------------------------------------------------------------------------------------------


class NodeSource(Protocol):
    """Serves the hash of any complete perfect subtree of the stored tree."""

    def get(self, level: int, index: int) -> bytes:
        """Return the root of the 2**level leaves starting at leaf index * 2**level."""
        ...


class InMemoryTree:
    """A `NodeSource` that keeps every level in lists: for tests and offline bundle checks."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Build a tree from leaf hashes (already hashed with `leaf_hash`)."""
        self._levels: list[list[bytes]] = [[]]
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf hashes, storing each newly completed perfect subtree on its level."""
        levels = self._levels
        sha = _sha256
        node = _NODE
        for h in leaves:
            if len(h) != HASH_SIZE:
                raise ProofError(f"leaf hash {self.size} is {len(h)} bytes, not {HASH_SIZE}")
            levels[0].append(bytes(h))
            level = 0
            # A node at an odd index completes its parent: hash it with its left sibling.
            while len(levels[level]) & 1 == 0:
                row = levels[level]
                parent = sha(node + row[-2] + row[-1]).digest()
                level += 1
                if level == len(levels):
                    levels.append([])
                levels[level].append(parent)

    def get(self, level: int, index: int) -> bytes:
        """Return a perfect subtree hash; IndexError if that subtree is not complete."""
        if level < 0 or index < 0 or level >= len(self._levels):
            raise IndexError(f"no complete subtree at level {level}, index {index}")
        row = self._levels[level]
        if index >= len(row):
            raise IndexError(f"no complete subtree at level {level}, index {index}")
        return row[index]

    def root(self, size: int | None = None) -> bytes:
        """Return the root of the first `size` leaves (default: all of them)."""
        return root(self.size if size is None else size, self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of leaf `index` in the tree of `size` (default: all)."""
        return inclusion_proof(index, self.size if size is None else size, self)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return the consistency proof from `old_size` to `new_size` (default: all)."""
        return consistency_proof(old_size, self.size if new_size is None else new_size, self)


def subtree_root(start: int, end: int, nodes: NodeSource) -> bytes:
    """Return MTH(D[start:end]) from at most log2(end - start) + 1 perfect subtrees.

    [start, end) must be a subtree of the RFC 9162 tree: start is a multiple of the smallest power
    of two >= end - start. Such a range is the perfect subtrees given by the set bits of its
    length, largest first; folding them from the right is exactly the RFC's recursive split.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    n = end - start
    if start & ((1 << (n - 1).bit_length()) - 1):
        raise ValueError(f"[{start}, {end}) is not a subtree of the RFC 9162 tree")
    parts: list[bytes] = []
    pos = start
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            parts.append(nodes.get(level, pos >> level))
            pos += 1 << level
    h = parts.pop()
    while parts:
        h = node_hash(parts.pop(), h)
    return h


def root(size: int, nodes: NodeSource) -> bytes:
    """Return the root hash of the tree made of the first `size` leaves."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return EMPTY_ROOT if size == 0 else subtree_root(0, size, nodes)


def _perfect(start: int, width: int, nodes: NodeSource) -> bytes:
    """Return the perfect subtree of `width` (a power of two) leaves at aligned `start`."""
    level = width.bit_length() - 1
    return nodes.get(level, start >> level)


# --------------------------------------------------------------------------------------------
# Proofs (RFC 9162 §2.1.3.1 and §2.1.4.1), iterative versions of PATH and SUBPROOF
# --------------------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, nodes: NodeSource) -> list[bytes]:
    """Return PATH(index, D[size]): the audit path of leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    # The recursion appends each sibling *after* the deeper part of the path, so walking top
    # down yields the path in reverse. Once the walk goes left, every range below is perfect,
    # so at most one non-perfect sibling (a right edge) is computed: O(log n) `get` calls.
    reversed_path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            reversed_path.append(subtree_root(lo + k, hi, nodes))
            hi = lo + k
        else:
            reversed_path.append(_perfect(lo, k, nodes))
            lo += k
    reversed_path.reverse()
    return reversed_path


def consistency_proof(old_size: int, new_size: int, nodes: NodeSource) -> list[bytes]:
    """Return PROOF(old_size, D[new_size]); empty when old_size is 0 or equals new_size."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    m = old_size
    reversed_tail: list[bytes] = []
    lo, hi = 0, new_size
    whole_old_tree = True  # SUBPROOF's flag b: is D[lo:m] still the entire old tree?
    while m != hi:
        k = _largest_power_of_two_below(hi - lo)
        if m - lo <= k:
            reversed_tail.append(subtree_root(lo + k, hi, nodes))
            hi = lo + k
        else:
            reversed_tail.append(_perfect(lo, k, nodes))
            lo += k
            whole_old_tree = False
    proof = [] if whole_old_tree else [subtree_root(lo, hi, nodes)]
    reversed_tail.reverse()
    return proof + reversed_tail


# --------------------------------------------------------------------------------------------
# Verifiers (RFC 9162 §2.1.3.2 and §2.1.4.2): the security boundary
# --------------------------------------------------------------------------------------------


def _inclusion_proof_length(index: int, size: int) -> int:
    """Length of PATH(index, D[size]): siblings below the split from the right edge, plus above."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _check_int(value: int, what: str) -> None:
    # bool is an int; a True where a size belongs is a bug, not a tree of one leaf.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofError(f"{what} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ProofError(f"{what} must be >= 0, got {value}")


def _check_proof(proof: Sequence[bytes], expected: int, what: str) -> None:
    if len(proof) != expected:
        raise ProofError(f"{what} has {len(proof)} hashes; it must have exactly {expected}")
    for i, p in enumerate(proof):
        _check_hash(p, f"{what} element {i}")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows leaf `index` of the tree of `size` has `leaf_hash`."""
    _check_int(index, "leaf index")
    _check_int(size, "tree size")
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    # Step 1.
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    _check_proof(proof, _inclusion_proof_length(index, size), "inclusion proof")
    # Steps 2-3.
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    # Step 4.
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the tree {size} root")


def _consistency_proof_length(old_size: int, new_size: int) -> int:
    """Length of PROOF(old_size, D[new_size]) for 0 < old_size < new_size."""
    shift = (old_size & -old_size).bit_length() - 1  # trailing zeros of old_size
    # The old tree's last leaf sits in a perfect subtree of 2**shift leaves; the proof is that
    # subtree's inclusion path in the new tree, plus the subtree itself unless it is the whole
    # old tree (old_size a power of two), in which case the verifier already has it as old_root.
    path = _inclusion_proof_length((old_size - 1) >> shift, ((new_size - 1) >> shift) + 1)
    return path + (0 if old_size == 1 << shift else 1)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows the tree of `old_size` is a prefix of `new_size`'s."""
    _check_int(old_size, "old tree size")
    _check_int(new_size, "new tree size")
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size == 0:
        # Every tree extends the empty tree; its root is fixed, so insist on it.
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree must be SHA-256 of the empty string")
        return
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal tree sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    # 0 < old_size < new_size: RFC 9162 §2.1.4.2.
    _check_proof(proof, _consistency_proof_length(old_size, new_size), "consistency proof")
    path = list(proof)
    # Step 1 (unreachable after the length check, kept to mirror the RFC).
    if not path:
        raise ProofError("consistency proof is empty")
    # Step 2.
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    # Step 3.
    fn, sn = old_size - 1, new_size - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root (size {new_size})")
