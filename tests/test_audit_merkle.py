"""RFC 9162 Merkle tree: known answers, a reference implementation, and forged proofs.

The reference functions below follow the RFC 9162 §2.1 pseudo-code literally (recursive MTH,
PATH, PROOF/SUBPROOF over raw leaf data), so the iterative, NodeSource-based implementation is
checked against the definition rather than against itself.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from callwarden.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    InMemoryTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_leaves,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)
from callwarden.errors import CallwardenError

# --------------------------------------------------------------------------------------------
# Known answers: the Certificate Transparency / transparency-dev/merkle test data
# --------------------------------------------------------------------------------------------

CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
# Root hash for each tree size 0..8.
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# Every complete subtree of the 8-leaf tree, by level then index.
CT_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
# (leaf index, tree size, proof), 0-based indices.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof).
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

CT_TREE = InMemoryTree(leaf_hash(d) for d in CT_LEAVES)


def _hx(hashes: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hashes]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == CT_ROOTS[0] == hashlib.sha256(b"").digest()
    assert root_from_leaves([]) == EMPTY_ROOT
    assert root(0, CT_TREE) == EMPTY_ROOT


def test_hash_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest() == CT_ROOTS[1]
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()


@pytest.mark.parametrize("size", range(9))
def test_known_roots(size: int) -> None:
    leaves = [leaf_hash(d) for d in CT_LEAVES[:size]]
    assert root_from_leaves(leaves) == CT_ROOTS[size]
    assert root(size, CT_TREE) == CT_ROOTS[size]
    assert InMemoryTree(leaves).root() == CT_ROOTS[size]


def test_known_node_hashes() -> None:
    for level, row in enumerate(CT_NODES):
        for index, want in enumerate(row):
            assert CT_TREE.get(level, index).hex() == want


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    assert inclusion_proof(index, size, CT_TREE) == _hx(proof)
    verify_inclusion(leaf_hash(CT_LEAVES[index]), index, size, _hx(proof), CT_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_known_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    assert consistency_proof(old, new, CT_TREE) == _hx(proof)
    verify_consistency(old, new, CT_ROOTS[old], CT_ROOTS[new], _hx(proof))


# --------------------------------------------------------------------------------------------
# RFC 9162 §2.1 pseudo-code, literally, over raw leaf data D[lo:hi]
# --------------------------------------------------------------------------------------------

MAX = 4096
DATA = [b"callwarden test leaf %d" % i for i in range(MAX)]
LEAVES = [leaf_hash(d) for d in DATA]
TREE = InMemoryTree(LEAVES)


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def ref_mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi])."""
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + DATA[lo]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(lo, lo + k) + ref_mth(lo + k, hi)).digest()


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]), m relative to lo."""
    n = hi - lo
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, lo, lo + k), ref_mth(lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), ref_mth(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b), m relative to lo."""
    n = hi - lo
    if m == n:
        return [] if b else [ref_mth(lo, hi)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, b), ref_mth(lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), ref_mth(lo, lo + k)]


def ref_proof(m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n])."""
    return ref_subproof(m, 0, n, True)


SMALL = 130


def test_roots_match_reference_for_every_small_size() -> None:
    cr = CompactRange()
    for n in range(SMALL + 1):
        want = ref_mth(0, n)
        assert root_from_leaves(LEAVES[:n]) == want
        assert root(n, TREE) == want
        assert cr.root() == want
        if n < SMALL:
            cr.append(LEAVES[n])


def test_every_inclusion_proof_in_every_small_tree() -> None:
    for n in range(1, SMALL + 1):
        r = ref_mth(0, n)
        for i in range(n):
            proof = inclusion_proof(i, n, TREE)
            assert proof == ref_path(i, 0, n), (i, n)
            verify_inclusion(LEAVES[i], i, n, proof, r)


def test_every_consistency_proof_between_small_trees() -> None:
    for n in range(0, SMALL + 1):
        rn = ref_mth(0, n)
        verify_consistency(0, n, EMPTY_ROOT, rn, consistency_proof(0, n, TREE))
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, TREE)
            assert proof == ref_proof(m, n), (m, n)
            verify_consistency(m, n, ref_mth(0, m), rn, proof)


sizes = st.integers(min_value=1, max_value=MAX)
fast = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(st.data())
def test_inclusion_in_larger_trees(data: st.DataObject) -> None:
    n = data.draw(sizes)
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(i, n, TREE)
    assert proof == ref_path(i, 0, n)
    verify_inclusion(LEAVES[i], i, n, proof, root(n, TREE))


@fast
@given(st.data())
def test_consistency_in_larger_trees(data: st.DataObject) -> None:
    n = data.draw(sizes)
    m = data.draw(st.integers(1, n))
    proof = consistency_proof(m, n, TREE)
    assert proof == ref_proof(m, n)
    verify_consistency(m, n, root(m, TREE), root(n, TREE), proof)


@fast
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=300))
def test_root_from_arbitrary_leaf_hashes(hashes: list[bytes]) -> None:
    tree = InMemoryTree(hashes)
    assert root_from_leaves(hashes) == tree.root()
    if len(hashes) >= 2:
        k = _k(len(hashes))
        # The RFC's split, directly.
        assert root_from_leaves(hashes) == node_hash(
            root_from_leaves(hashes[:k]), root_from_leaves(hashes[k:])
        )


# --------------------------------------------------------------------------------------------
# Forged and damaged proofs must raise
# --------------------------------------------------------------------------------------------


def _flip(proof: list[bytes], element: int, bit: int) -> list[bytes]:
    out = list(proof)
    b = bytearray(out[element])
    b[bit // 8] ^= 1 << (bit % 8)
    out[element] = bytes(b)
    return out


def test_every_element_of_every_small_inclusion_proof_is_load_bearing() -> None:
    for n in range(1, 65):
        r = root(n, TREE)
        for i in range(n):
            proof = inclusion_proof(i, n, TREE)
            for e in range(len(proof)):
                with pytest.raises(ProofError):
                    verify_inclusion(LEAVES[i], i, n, _flip(proof, e, (7 * i + e) % 256), r)
                with pytest.raises(ProofError):
                    verify_inclusion(LEAVES[i], i, n, proof[:e] + proof[e + 1 :], r)
            with pytest.raises(ProofError):
                verify_inclusion(LEAVES[i], i, n, [*proof, r], r)
            with pytest.raises(ProofError):
                verify_inclusion(LEAVES[i], i, n, [r, *proof], r)


def test_every_element_of_every_small_consistency_proof_is_load_bearing() -> None:
    for n in range(2, 65):
        rn = root(n, TREE)
        for m in range(1, n):
            rm = root(m, TREE)
            proof = consistency_proof(m, n, TREE)
            for e in range(len(proof)):
                with pytest.raises(ProofError):
                    verify_consistency(m, n, rm, rn, _flip(proof, e, (5 * m + e) % 256))
                with pytest.raises(ProofError):
                    verify_consistency(m, n, rm, rn, proof[:e] + proof[e + 1 :])
            with pytest.raises(ProofError):
                verify_consistency(m, n, rm, rn, [*proof, rn])
            with pytest.raises(ProofError):
                verify_consistency(m, n, rm, rn, [rm, *proof])
            with pytest.raises(ProofError):
                verify_consistency(m, n, rn, rm, proof)  # swapped roots


@fast
@given(st.data())
def test_any_single_bit_flip_breaks_an_inclusion_proof(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, MAX))
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(i, n, TREE)
    e = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[i], i, n, _flip(proof, e, bit), root(n, TREE))


@fast
@given(st.data())
def test_any_single_bit_flip_breaks_a_consistency_proof(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, MAX))
    m = data.draw(st.integers(1, n - 1))
    proof = consistency_proof(m, n, TREE)
    e = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_consistency(m, n, root(m, TREE), root(n, TREE), _flip(proof, e, bit))


@fast
@given(st.data())
def test_any_bit_flip_in_leaf_or_root_breaks_inclusion(data: st.DataObject) -> None:
    n = data.draw(sizes)
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(i, n, TREE)
    r = root(n, TREE)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_inclusion(_flip([LEAVES[i]], 0, bit)[0], i, n, proof, r)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[i], i, n, proof, _flip([r], 0, bit)[0])


@fast
@given(st.data())
def test_any_bit_flip_in_either_root_breaks_consistency(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, MAX))
    m = data.draw(st.integers(1, n - 1))
    proof = consistency_proof(m, n, TREE)
    rm, rn = root(m, TREE), root(n, TREE)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_consistency(m, n, _flip([rm], 0, bit)[0], rn, proof)
    with pytest.raises(ProofError):
        verify_consistency(m, n, rm, _flip([rn], 0, bit)[0], proof)


@fast
@given(st.data())
def test_a_proof_for_another_index_does_not_verify(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, MAX))
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, n + 5).filter(lambda j: j != i))
    proof = inclusion_proof(i, n, TREE)
    r = root(n, TREE)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[i], j, n, proof, r)  # right leaf, wrong index
    if j < n:
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[j], j, n, proof, r)  # another leaf with this leaf's proof
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[j], i, n, proof, r)  # another leaf at this index


@fast
@given(st.data())
def test_a_proof_for_another_tree_size_does_not_verify(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, MAX))
    i = data.draw(st.integers(0, n - 1))
    n2 = data.draw(st.integers(1, MAX).filter(lambda s: s != n))
    proof = inclusion_proof(i, n, TREE)
    # The (size, root) pair is what a signed checkpoint asserts, so the wrong size comes with
    # that size's real root.
    assume(i >= n2 or inclusion_proof(i, n2, TREE) != proof)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[i], i, n2, proof, root(n2, TREE))


@fast
@given(st.data())
def test_a_consistency_proof_for_other_sizes_does_not_verify(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, MAX))
    m = data.draw(st.integers(1, n - 1))
    proof = consistency_proof(m, n, TREE)
    m2 = data.draw(st.integers(1, MAX).filter(lambda s: s != m))
    n2 = data.draw(st.integers(1, MAX))
    assume((m2, n2) != (m, n))
    assume(m2 > n2 or consistency_proof(m2, n2, TREE) != proof)
    with pytest.raises(ProofError):
        verify_consistency(m2, n2, root(m2, TREE), root(n2, TREE), proof)


@fast
@given(st.data())
def test_a_consistency_proof_does_not_join_unrelated_logs(data: st.DataObject) -> None:
    # Same sizes, but the new tree differs from the old one in one leaf before old_size:
    # a log that rewrote history. The honest proof of the rewritten log must not verify.
    n = data.draw(st.integers(2, 300))
    m = data.draw(st.integers(1, n - 1))
    victim = data.draw(st.integers(0, m - 1))
    forged = list(LEAVES[:n])
    forged[victim] = leaf_hash(b"rewritten")
    forged_tree = InMemoryTree(forged)
    proof = consistency_proof(m, n, forged_tree)
    with pytest.raises(ProofError):
        verify_consistency(m, n, root(m, TREE), forged_tree.root(), proof)


def test_size_is_only_bound_through_the_root() -> None:
    # RFC 9162 inherent, and why checkpoints sign size and root together: leaf 0's path in a
    # tree of 5 leaves has the same shape as in a tree of 8, so the proof checks out against
    # the claim "(size 8, root of size 5)". No real tree of size 8 has that root.
    proof = inclusion_proof(0, 5, TREE)
    verify_inclusion(LEAVES[0], 0, 8, proof, root(5, TREE))
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 8, proof, root(8, TREE))


# --------------------------------------------------------------------------------------------
# Argument checking in the verifiers
# --------------------------------------------------------------------------------------------

H = LEAVES[0]


@pytest.mark.parametrize(
    ("index", "size", "proof", "leaf", "r", "message"),
    [
        (0, 0, [], H, EMPTY_ROOT, "not below tree size"),
        (1, 1, [], H, H, "not below tree size"),
        (5, 3, [H], H, H, "not below tree size"),
        (-1, 3, [H], H, H, ">= 0"),
        (0, -1, [], H, H, ">= 0"),
        (True, 2, [H], H, H, "integer"),
        (0, 1.0, [], H, H, "integer"),
        (0, 1, [], H[:31], H[:31], "32-byte"),
        (0, 1, [], H + b"\0", H + b"\0", "32-byte"),
        (0, 1, [], b"", b"", "32-byte"),
        (0, 1, [], H, b"", "32-byte"),
        (0, 1, [], "ab" * 16, H, "32-byte"),
        (0, 1, [H], H, H, "exactly 0"),
        (0, 2, [], H, H, "exactly 1"),
        (0, 2, [b""], H, H, "element 0"),
        (0, 2, [H[:31]], H, H, "element 0"),
        (0, 2, [H, H], H, H, "exactly 1"),
    ],
)
def test_verify_inclusion_rejects_bad_arguments(
    index: int, size: int, proof: list[bytes], leaf: bytes, r: bytes, message: str
) -> None:
    with pytest.raises(ProofError, match=message):
        verify_inclusion(leaf, index, size, proof, r)


def test_single_leaf_tree() -> None:
    verify_inclusion(H, 0, 1, [], H)
    with pytest.raises(ProofError, match="does not lead"):
        verify_inclusion(H, 0, 1, [], LEAVES[1])


R1, R2 = LEAVES[1], LEAVES[2]


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "message"),
    [
        (2, 1, R1, R2, [], "larger than new"),
        (1, 0, R1, EMPTY_ROOT, [], "larger than new"),
        (0, 0, R1, R1, [], "empty string"),
        (0, 5, R1, R2, [], "empty string"),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "must be empty"),
        (0, 1, EMPTY_ROOT, R1, [EMPTY_ROOT], "must be empty"),
        (1, 1, R1, R2, [], "different roots"),
        (1, 1, R1, R1, [R1], "must be empty"),
        (1, 2, R1, R2, [], "exactly 1"),
        (3, 8, R1, R2, [R1], "exactly 4"),
        (-1, 2, EMPTY_ROOT, R2, [], ">= 0"),
        (1, True, R1, R1, [], "integer"),
        (1, 2, R1[:16], R2, [R1], "32-byte"),
        (1, 2, R1, b"", [R1], "32-byte"),
        (1, 2, R1, R2, [R1[:31]], "element 0"),
    ],
)
def test_verify_consistency_rejects_bad_arguments(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], message: str
) -> None:
    with pytest.raises(ProofError, match=message):
        verify_consistency(old, new, old_root, new_root, proof)


def test_trivial_consistency_is_accepted() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 7, EMPTY_ROOT, root(7, TREE), [])
    verify_consistency(7, 7, root(7, TREE), root(7, TREE), [])


def test_proof_error_is_a_callwarden_error() -> None:
    assert issubclass(ProofError, CallwardenError)
    assert ProofError.code == "proof_invalid"


# --------------------------------------------------------------------------------------------
# Node access, proof generation arguments, compact ranges
# --------------------------------------------------------------------------------------------


class CountingSource:
    """Wraps a NodeSource and counts reads."""

    def __init__(self, inner: InMemoryTree) -> None:
        self.inner = inner
        self.calls = 0

    def get(self, level: int, index: int) -> bytes:
        self.calls += 1
        return self.inner.get(level, index)


@fast
@given(st.data())
def test_proofs_read_logarithmically_many_nodes(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, MAX))
    i = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(0, n))
    bound = 2 * n.bit_length() + 2
    src = CountingSource(TREE)
    inclusion_proof(i, n, src)
    assert src.calls <= bound
    src.calls = 0
    consistency_proof(m, n, src)
    assert src.calls <= bound
    src.calls = 0
    root(n, src)
    assert src.calls <= n.bit_length()


def test_generation_rejects_impossible_requests() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(3, 3, TREE)
    with pytest.raises(ValueError):
        inclusion_proof(-1, 3, TREE)
    with pytest.raises(ValueError):
        consistency_proof(4, 3, TREE)
    with pytest.raises(ValueError):
        consistency_proof(-1, 3, TREE)
    with pytest.raises(ValueError):
        root(-1, TREE)
    with pytest.raises(IndexError):
        inclusion_proof(0, MAX + 1, TREE)  # the source has no such tree
    assert consistency_proof(0, 5, TREE) == []
    assert consistency_proof(5, 5, TREE) == []


def test_subtree_root_only_accepts_rfc_subtrees() -> None:
    assert subtree_root(4, 7, TREE) == ref_mth(4, 7)
    assert subtree_root(0, 1, TREE) == LEAVES[0]
    for start, end in [(1, 3), (2, 5), (4, 4), (5, 4), (-1, 2), (6, 10)]:
        with pytest.raises(ValueError):
            subtree_root(start, end, TREE)


def test_in_memory_tree_serves_only_complete_subtrees() -> None:
    tree = InMemoryTree(LEAVES[:5])
    assert tree.size == 5
    assert tree.get(2, 0) == ref_mth(0, 4)
    assert tree.get(0, 4) == LEAVES[4]
    for level, index in [(0, 5), (1, 2), (2, 1), (3, 0), (-1, 0), (0, -1)]:
        with pytest.raises(IndexError):
            tree.get(level, index)
    with pytest.raises(ProofError):
        tree.append(b"short")
    assert tree.size == 5
    tree.append(LEAVES[5])
    assert tree.root() == ref_mth(0, 6)
    assert tree.inclusion_proof(2) == ref_path(2, 0, 6)
    assert tree.consistency_proof(3) == ref_proof(3, 6)


def test_compact_range_resumes_from_saved_state() -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:1000])
    saved = CompactRange(cr.size, cr.hashes)
    saved.extend(LEAVES[1000:1234])
    assert saved.size == 1234
    assert saved.root() == ref_mth(0, 1234)
    assert len(saved.hashes) == bin(1234).count("1")
    with pytest.raises(ValueError):
        CompactRange(3, [H])
    with pytest.raises(ValueError):
        CompactRange(-1, [])
    with pytest.raises(ProofError):
        CompactRange(1, [b"x"])


def test_root_from_leaves_rejects_malformed_leaf_hashes() -> None:
    with pytest.raises(ProofError, match="leaf hash 2"):
        root_from_leaves([H, H, H[:5], H])
