#!/usr/bin/env python3
"""Self-test for tools/verify_proof.py.

    python3 -m unittest tools/test_verify_proof.py
    python3 tools/test_verify_proof.py

Builds journals with real chain hashes, Merkle trees, signed checkpoints and
proofs (the tree and proof generation per RFC 6962 lives here only, apart
from the verifier), checks that the verifier accepts them and rejects every
single alteration. Needs the standard library and `cryptography`.
"""

import base64
import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import verify_proof as vp  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: E402
    Ed25519PrivateKey,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "verify_proof.py")

# --------------------------------------------------------------------------
# The generating side (RFC 6962 section 2.1), independent of the verifier's
# code except for the two hash primitives, which the reference vectors check.


def mth(leaves):
    """MTH(D[n]) over leaf *data* (not leaf hashes)."""
    n = len(leaves)
    if n == 0:
        return vp._sha256(b"")
    if n == 1:
        return vp.leaf_hash(leaves[0])
    k = split(n)
    return vp.node_hash(mth(leaves[:k]), mth(leaves[k:]))


def split(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def path(m, leaves):
    """PATH(m, D[n]): the audit path for leaf m."""
    n = len(leaves)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, b):
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency(m, leaves):
    """PROOF(m, D[n]): the consistency proof from size m to len(leaves)."""
    return subproof(m, leaves, True)


def make_events(tenant, n, start=1767225600123):
    """n events of one tenant, chained with real hashes."""
    kinds = ["received", "verdict", "delivered", "downloaded", "acknowledged", "checkpoint"]
    partners = ["alice", "bob", None]
    events = []
    prev = vp.GENESIS
    for seq in range(1, n + 1):
        kind = kinds[(seq - 1) % len(kinds)]
        partner = partners[seq % len(partners)]
        message = None if seq % 4 == 0 else 10 + seq
        if seq % 5 == 0:
            detail = '{"name":"r\u00e9sum\u00e9 \u2013 %d.csv"}' % seq  # multi-byte UTF-8
        elif seq % 3 == 0:
            detail = "{}"
        else:
            detail = '{"bytes": %d, "name":"orders.csv"}' % (seq * 100)
        event = {
            "tenant": tenant,
            "seq": seq,
            "at": start + seq * 1000 + (seq % 2) * 7,
            "kind": kind,
            "message": message,
            "partner": partner,
            "detail": detail,
            "prev_hash": prev,
        }
        event["hash"] = vp.event_chain_hash(event)
        prev = event["hash"]
        events.append(event)
    return events


def leaves_of(events):
    return [bytes.fromhex(e["hash"]) for e in events]


def public_key_line(private):
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return "ferry-journal-ed25519 %s\n" % base64.b64encode(raw).decode("ascii"), raw


def sign_checkpoint(private, tenant, size, root_hex, time):
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    text = "ferry-checkpoint-v1\ntenant %s\nsize %d\nroot %s\ntime %d\n" % (
        tenant, size, root_hex, time,
    )
    return {
        "tenant": tenant,
        "size": size,
        "root": root_hex,
        "time": time,
        "key_id": vp.hashlib.sha256(raw).hexdigest()[:16],
        "signature": base64.b64encode(private.sign(text.encode("utf-8"))).decode("ascii"),
    }


def make_proof(private, events, size, seqs, time=1767226200000, subject=None):
    leaves = leaves_of(events[:size])
    checkpoint = sign_checkpoint(private, events[0]["tenant"], size, mth(leaves).hex(), time)
    return {
        "format": "ferry-proof-v1",
        "checkpoint": checkpoint,
        "subject": subject or {"partner": "alice", "name": "orders.csv", "sha256": None},
        "events": [
            {
                "event": dict(events[s - 1]),
                "leaf_index": s - 1,
                "path": [h.hex() for h in path(s - 1, leaves)],
            }
            for s in seqs
        ],
    }


def flip_hex(h, i=0):
    """h with hex digit i changed."""
    c = "0" if h[i] != "0" else "1"
    return h[:i] + c + h[i + 1:]


def flip_b64_sig(sig_b64, byte):
    raw = bytearray(base64.b64decode(sig_b64))
    raw[byte] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


# --------------------------------------------------------------------------


class ReferenceVectors(unittest.TestCase):
    """The RFC 6962 reference data published with Certificate Transparency,
    so that generator and verifier cannot agree on a private mistake."""

    DATA = [bytes.fromhex(h) for h in [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]]
    ROOTS = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    INCLUSION = [
        (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    ]
    CONSISTENCY = [
        (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    ]

    def test_roots(self):
        self.assertEqual(vp.EMPTY_ROOT.hex(), self.ROOTS[0])
        for n in range(len(self.DATA) + 1):
            self.assertEqual(mth(self.DATA[:n]).hex(), self.ROOTS[n], "size %d" % n)

    def test_inclusion(self):
        for index, size, want in self.INCLUSION:
            got = [h.hex() for h in path(index, self.DATA[:size])]
            self.assertEqual(got, want)
            self.assertTrue(vp.verify_inclusion(
                index, size, vp.leaf_hash(self.DATA[index]),
                [bytes.fromhex(h) for h in want], bytes.fromhex(self.ROOTS[size])))

    def test_consistency(self):
        for first, second, want in self.CONSISTENCY:
            got = [h.hex() for h in consistency(first, self.DATA[:second])]
            self.assertEqual(got, want)
            self.assertTrue(vp.verify_consistency(
                first, second, bytes.fromhex(self.ROOTS[first]),
                bytes.fromhex(self.ROOTS[second]), [bytes.fromhex(h) for h in want]))


class WorkedExample(unittest.TestCase):
    """The worked example of docs/proofs.md, recomputed; and the proof and
    consistency files printed there, verified as they stand."""

    SEED = bytes(range(32))
    SHA = "c791584fd8331fe6b76179e5111bd67b0c27f7d12f211fc55f4290befcf031db"
    EVENTS = [
        ("received", 1796644800123, 17, "alice",
         '{"name":"orders.csv","size":12,"sha256":"%s"}' % SHA),
        ("verdict", 1796644800456, 17, None, '{"verdict":"accepted"}'),
        ("downloaded", 1796645100000, 17, "bob", '{"bytes":12}'),
    ]
    HASHES = [
        "65dc2f9e44c7824367b91c21a3d200a4e585a05b17e11a1a08cd6ebdcf16fd1e",
        "6dbfd59fa00252e209117dd2062287a1eb836665b9e5ab7103429c86f4caa7ca",
        "88392a1fdf013c5102ebb624bdaf2b6147dc8e9a9afad5e4aff20501e5d3c527",
    ]
    H = {
        "h0": "dd78ce91ad92f736fb1fa3b2f9c6ecc65db6b0d41dae1a8460c73e4b15cb9c3e",
        "h1": "3462cb36bac1077946446b06268a7a28f3ca3995dbbe6c2849cd3feb984bcd1d",
        "h2": "260a47d7e41501c0753dece421858f21cd4a638a2976ae5283aec914199bd524",
        "h01": "3d8a66394b05b773284cd96c41fa147674cb3365f9316baa8b8a3ff46af6fd6c",
        "root": "1bcbfed40a126898caff44fb2450026ad34f16872ee099de5321a0391c86a853",
    }
    KEY_LINE = "ferry-journal-ed25519 A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    KEY_ID = "56475aa75463474c"
    SIGNATURE = ("nE9fxdBaWaD0HkBAKOKFk4pCrQ+lx8iBHrnw2ng2eCq/9j57OSmJ38rU2LMf"
                 "ZN0X4yp/yUkCHMNYlX4LpbpxDw==")
    DOC = os.path.join(HERE, os.pardir, "docs", "proofs.md")

    def build(self):
        events, prev = [], vp.GENESIS
        for seq, (kind, at, message, partner, detail) in enumerate(self.EVENTS, 1):
            e = {"tenant": "acme", "seq": seq, "at": at, "kind": kind, "message": message,
                 "partner": partner, "detail": detail, "prev_hash": prev}
            e["hash"] = prev = vp.event_chain_hash(e)
            events.append(e)
        return events

    def test_values(self):
        self.assertEqual(vp.hashlib.sha256(b"id,qty\n7,42\n").hexdigest(), self.SHA)
        events = self.build()
        self.assertEqual([e["hash"] for e in events], self.HASHES)
        leaves = leaves_of(events)
        h = {"h%d" % i: vp.leaf_hash(d).hex() for i, d in enumerate(leaves)}
        h["h01"] = mth(leaves[:2]).hex()
        h["root"] = mth(leaves).hex()
        self.assertEqual(h, self.H)
        self.assertEqual([[x.hex() for x in path(i, leaves)] for i in range(3)],
                         [[h["h1"], h["h2"]], [h["h0"], h["h2"]], [h["h01"]]])
        self.assertEqual([x.hex() for x in consistency(2, leaves)], [h["h2"]])
        private = Ed25519PrivateKey.from_private_bytes(self.SEED)
        line, raw = public_key_line(private)
        self.assertEqual(line, self.KEY_LINE + "\n")
        self.assertEqual(vp.key_id_of(raw), self.KEY_ID)
        cp = sign_checkpoint(private, "acme", 3, h["root"], 1796645400000)
        self.assertEqual(cp["signature"], self.SIGNATURE)
        self.assertEqual(len(vp.checkpoint_text(cp)), 128)

    @unittest.skipUnless(os.path.exists(DOC), "docs/proofs.md is not beside tools/")
    def test_document(self):
        with open(self.DOC, encoding="utf-8") as f:
            text = f.read()
        for value in self.HASHES + list(self.H.values()) + [
                self.KEY_LINE, self.KEY_ID, self.SIGNATURE, self.SEED.hex()]:
            self.assertIn(value, text)
        # The 197-byte pre-image of event 3, as the document prints it in hex.
        e = self.build()[2]
        blob = b"".join(
            len(f.encode()).to_bytes(8, "big") + f.encode()
            for f in ["ferry-journal-v1", e["prev_hash"], "acme", "3", str(e["at"]),
                      e["kind"], "17", "bob", e["detail"]])
        self.assertEqual(len(blob), 197)
        blocks = text[text.index("## A worked example"):].split("```")
        dumps = [b for b in blocks if b.startswith("text\n0000000000000010666572")]
        self.assertEqual(len(dumps), 1)
        self.assertEqual("".join(dumps[0][len("text\n"):].split()), blob.hex())
        # The JSON files it prints verify with the key it prints.
        raw = vp.parse_key(self.KEY_LINE)
        docs = [json.loads(b[len("json\n"):]) for b in blocks
                if b.startswith("json\n{\n  \"format\"")]
        formats = sorted(d["format"] for d in docs)
        self.assertEqual(formats, ["ferry-consistency-v1", "ferry-proof-v1"])
        for d in docs:
            if d["format"] == "ferry-proof-v1":
                lines = vp.verify_proof(d, raw)
                self.assertIn("\n".join(lines), text)
            else:
                lines = vp.verify_consistency_doc(d, raw)
                self.assertIn("\n".join(lines), text)


class ChainHash(unittest.TestCase):
    def test_encoding_byte_by_byte(self):
        # The hash is over length-prefixed UTF-8 fields, lengths in bytes.
        fields = ["ferry-journal-v1", vp.GENESIS, "acme", "1", "1767225000123",
                  "received", "17", "", "{\"name\":\"r\u00e9sum\u00e9\"}"]
        blob = b"".join(
            len(f.encode()).to_bytes(8, "big") + f.encode() for f in fields)
        want = vp.hashlib.sha256(blob).hexdigest()
        got = vp.chain_hash(vp.GENESIS, "acme", 1, 1767225000123, "received", 17,
                            None, "{\"name\":\"r\u00e9sum\u00e9\"}")
        self.assertEqual(got, want)

    def test_null_and_empty_are_the_same_text(self):
        # Documented: a null message/partner hashes as the empty string.
        a = vp.chain_hash(vp.GENESIS, "acme", 1, 0, "k", None, None, "{}")
        b = vp.chain_hash(vp.GENESIS, "acme", 1, 0, "k", None, "", "{}")
        self.assertEqual(a, b)

    def test_fields_do_not_run_together(self):
        a = vp.chain_hash(vp.GENESIS, "acme", 1, 0, "ab", None, "c", "{}")
        b = vp.chain_hash(vp.GENESIS, "acme", 1, 0, "a", None, "bc", "{}")
        self.assertNotEqual(a, b)


class Trees(unittest.TestCase):
    """Every inclusion proof at sizes 1..20 and every consistency proof for
    0 < m < n <= 20 verifies, and every single change to one does not."""

    N = 20

    @classmethod
    def setUpClass(cls):
        cls.leaves = leaves_of(make_events("acme", cls.N))
        cls.roots = [mth(cls.leaves[:n]) for n in range(cls.N + 1)]

    def test_inclusion_every_index(self):
        count = 0
        for n in range(1, self.N + 1):
            root = self.roots[n]
            for i in range(n):
                leaf = vp.leaf_hash(self.leaves[i])
                p = path(i, self.leaves[:n])
                self.assertTrue(vp.verify_inclusion(i, n, leaf, p, root), (i, n))
                count += 1
                # Wrong index, wrong size, wrong leaf, wrong root.
                for j in (i - 1, i + 1, i ^ 1, i ^ 2):
                    if j != i:
                        self.assertFalse(vp.verify_inclusion(j, n, leaf, p, root), (i, j, n))
                # Another size, with that size's root. (The same root under
                # another size can verify: the size is vouched for by the
                # checkpoint's signature, not by the path.)
                for m in (n - 1, n + 1):
                    if i < m <= self.N:
                        self.assertFalse(
                            vp.verify_inclusion(i, m, leaf, p, self.roots[m]), (i, n, m))
                other = vp.leaf_hash(self.leaves[(i + 1) % self.N])
                self.assertFalse(vp.verify_inclusion(i, n, other, p, root))
                self.assertFalse(vp.verify_inclusion(i, n, self.leaves[i], p, root),
                                 "the leaf data, not its leaf hash")
                self.assertFalse(vp.verify_inclusion(i, n, leaf, p, self.roots[n - 1]))
                # Each element of the path altered; elements dropped, added, swapped.
                for k in range(len(p)):
                    for bit in (0, 7):
                        q = list(p)
                        b = bytearray(q[k])
                        b[k % 32] ^= 1 << bit
                        q[k] = bytes(b)
                        self.assertFalse(vp.verify_inclusion(i, n, leaf, q, root), (i, n, k))
                if p:
                    self.assertFalse(vp.verify_inclusion(i, n, leaf, p[:-1], root))
                    self.assertFalse(vp.verify_inclusion(i, n, leaf, p[1:], root))
                self.assertFalse(vp.verify_inclusion(i, n, leaf, p + [b"\x00" * 32], root))
                self.assertFalse(vp.verify_inclusion(i, n, leaf, p + [root], root))
                if len(p) >= 2 and p[0] != p[1]:
                    self.assertFalse(vp.verify_inclusion(i, n, leaf, [p[1], p[0]] + p[2:], root))
        self.assertEqual(count, self.N * (self.N + 1) // 2)

    def test_consistency_every_pair(self):
        count = 0
        for n in range(2, self.N + 1):
            for m in range(1, n):
                p = consistency(m, self.leaves[:n])
                r1, r2 = self.roots[m], self.roots[n]
                self.assertTrue(vp.verify_consistency(m, n, r1, r2, p), (m, n))
                count += 1
                self.assertFalse(vp.verify_consistency(m, n, r2, r1, p))
                self.assertFalse(vp.verify_consistency(n, m, r2, r1, p))
                for m2 in (m - 1, m + 1):
                    if 0 < m2 < n:
                        self.assertFalse(vp.verify_consistency(m2, n, self.roots[m2], r2, p),
                                         (m, m2, n))
                if n < self.N:
                    self.assertFalse(vp.verify_consistency(m, n + 1, r1, self.roots[n + 1], p))
                self.assertFalse(vp.verify_consistency(m, n, r1, self.roots[n - 1], p))
                for k in range(len(p)):
                    q = list(p)
                    b = bytearray(q[k])
                    b[(k * 5) % 32] ^= 0x80
                    q[k] = bytes(b)
                    self.assertFalse(vp.verify_consistency(m, n, r1, r2, q), (m, n, k))
                self.assertFalse(vp.verify_consistency(m, n, r1, r2, p[:-1]))
                self.assertFalse(vp.verify_consistency(m, n, r1, r2, p[1:]))
                self.assertFalse(vp.verify_consistency(m, n, r1, r2, p + [b"\x00" * 32]))
                self.assertFalse(vp.verify_consistency(m, n, r1, r2, []))
        self.assertEqual(count, self.N * (self.N - 1) // 2)

    def test_path_longer_than_the_tree(self):
        # Leaf n+i of a tree of 2n has the path of leaf i in the right half
        # plus the left half's root. Claimed as leaf i of a tree of n, with
        # the big tree's root, it must fail: the path outlives the tree.
        for n in (1, 2, 4, 8):
            for i in range(n):
                p = path(n + i, self.leaves[:2 * n])
                leaf = vp.leaf_hash(self.leaves[n + i])
                self.assertTrue(vp.verify_inclusion(n + i, 2 * n, leaf, p, self.roots[2 * n]))
                self.assertFalse(vp.verify_inclusion(i, n, leaf, p, self.roots[2 * n]), (i, n))
        # Likewise a consistency proof to n claimed as one to 2n.
        for n in (2, 4, 8):
            for m in range(1, n):
                p = consistency(m, self.leaves[:n])
                self.assertFalse(
                    vp.verify_consistency(m, 2 * n, self.roots[m], self.roots[n], p), (m, n))

    def test_consistency_edges(self):
        r = self.roots
        self.assertTrue(vp.verify_consistency(5, 5, r[5], r[5], []))
        self.assertFalse(vp.verify_consistency(5, 5, r[5], r[6], []))
        self.assertFalse(vp.verify_consistency(5, 5, r[5], r[5], [r[5]]))
        self.assertTrue(vp.verify_consistency(0, 7, vp.EMPTY_ROOT, r[7], []))
        self.assertFalse(vp.verify_consistency(0, 7, r[1], r[7], []))
        self.assertFalse(vp.verify_consistency(0, 7, vp.EMPTY_ROOT, r[7], [r[1]]))
        self.assertTrue(vp.verify_consistency(0, 0, vp.EMPTY_ROOT, vp.EMPTY_ROOT, []))
        self.assertFalse(vp.verify_consistency(0, 0, vp.EMPTY_ROOT, r[1], []))
        self.assertFalse(vp.verify_consistency(0, 0, r[1], r[1], []))
        self.assertFalse(vp.verify_consistency(6, 5, r[6], r[5], consistency(5, self.leaves[:6])))


class Proofs(unittest.TestCase):
    N = 20
    SEQ = 14

    @classmethod
    def setUpClass(cls):
        cls.key = Ed25519PrivateKey.generate()
        cls.key_text, cls.raw = public_key_line(cls.key)
        cls.other = Ed25519PrivateKey.generate()
        cls.other_text, cls.other_raw = public_key_line(cls.other)
        cls.events = make_events("acme", cls.N)

    def proof(self, seqs=None, size=None, **kw):
        return make_proof(self.key, self.events, size or self.N, seqs or [self.SEQ], **kw)

    def rejects(self, doc, message, raw=None):
        with self.assertRaises(vp.ProofError) as cm:
            vp.verify_proof(doc, raw or self.raw)
        self.assertIn(message, str(cm.exception))
        return str(cm.exception)

    def resign(self, doc, private=None):
        cp = doc["checkpoint"]
        doc["checkpoint"] = sign_checkpoint(
            private or self.key, cp["tenant"], cp["size"], cp["root"], cp["time"])

    # -- accepted

    def test_accepts_every_event_at_every_size(self):
        for size in range(1, self.N + 1):
            doc = self.proof(seqs=list(range(1, size + 1)), size=size)
            lines = vp.verify_proof(json.loads(json.dumps(doc)), self.raw)
            self.assertEqual(len(lines), size + 1)
            self.assertEqual(lines[-1], "ok: %d event%s proven" % (size, "" if size == 1 else "s"))

    def test_output_line(self):
        lines = vp.verify_proof(self.proof(seqs=[4, 2]), self.raw)
        self.assertEqual(
            lines[0],
            "event 'downloaded' (seq 4) of orders.csv by bob at "
            "2026-01-01T00:00:04.123Z is in acme's journal of 20 events, "
            "signed at 2026-01-01T00:10:00Z")
        # partner null: no "by".
        self.assertEqual(
            lines[1],
            "event 'verdict' (seq 2) of orders.csv at 2026-01-01T00:00:02.123Z "
            "is in acme's journal of 20 events, signed at 2026-01-01T00:10:00Z")
        self.assertEqual(lines[2], "ok: 2 events proven")

    def test_thousands_and_time_format(self):
        self.assertEqual(vp._events(1234), "1,234 events")
        self.assertEqual(vp._events(1), "1 event")
        self.assertEqual(vp.format_time(1796645400000), "2026-12-07T12:10:00Z")
        self.assertEqual(vp.format_time(1796644800123), "2026-12-07T12:00:00.123Z")
        self.assertEqual(vp.format_time(-1), "1969-12-31T23:59:59.999Z")

    def test_unknown_fields_are_ignored(self):
        doc = self.proof()
        doc["extra"] = 1
        doc["events"][0]["event"]["id"] = 99
        vp.verify_proof(doc, self.raw)

    # -- rejected: the event

    def test_each_character_of_detail(self):
        base = self.proof()
        detail = base["events"][0]["event"]["detail"]
        for i in range(len(detail)):
            doc = copy.deepcopy(base)
            c = "x" if detail[i] != "x" else "y"
            doc["events"][0]["event"]["detail"] = detail[:i] + c + detail[i + 1:]
            self.rejects(doc, "event %d: its hash does not match its fields (altered)" % self.SEQ)

    def test_each_byte_of_a_multibyte_detail(self):
        seq = 5  # detail holds non-ASCII text
        base = self.proof(seqs=[seq])
        detail = base["events"][0]["event"]["detail"].encode("utf-8")
        self.assertGreater(len(detail), len(base["events"][0]["event"]["detail"]))
        for i in range(len(detail)):
            b = bytearray(detail)
            b[i] ^= 0x01
            doc = copy.deepcopy(base)
            text = bytes(b).decode("utf-8", "surrogateescape")
            doc["events"][0]["event"]["detail"] = text
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                # Not UTF-8 any more; in JSON only a lone "\udcxx" escape could carry it.
                self.rejects(doc, "events[0].event.detail: not valid Unicode")
            else:
                self.rejects(doc, "event %d: its hash does not match" % seq)

    def test_detail_reserialised(self):
        doc = self.proof()
        detail = doc["events"][0]["event"]["detail"]
        doc["events"][0]["event"]["detail"] = json.dumps(json.loads(detail), separators=(",", ":"))
        self.assertNotEqual(detail, doc["events"][0]["event"]["detail"])
        self.rejects(doc, "its hash does not match its fields")

    def test_each_other_field(self):
        changes = {
            "at": lambda e: e["at"] + 1,
            "kind": lambda e: "delivered" if e["kind"] != "delivered" else "received",
            "message": lambda e: None if e["message"] is not None else 1,
            "partner": lambda e: "mallory",
            "prev_hash": lambda e: flip_hex(e["prev_hash"], 63),
            "hash": lambda e: flip_hex(e["hash"], 10),
        }
        for field, change in changes.items():
            doc = self.proof()
            ev = doc["events"][0]["event"]
            ev[field] = change(ev)
            self.rejects(doc, "its hash does not match its fields")
        # message 0 and null are different.
        doc = self.proof(seqs=[4])
        self.assertIsNone(doc["events"][0]["event"]["message"])
        doc["events"][0]["event"]["message"] = 0
        self.rejects(doc, "its hash does not match its fields")

    def test_hash_consistently_replaced(self):
        # The fields edited and the hash recomputed: the chain hash holds, the tree does not.
        doc = self.proof()
        ev = doc["events"][0]["event"]
        ev["detail"] = '{"bytes": 1}'
        ev["hash"] = vp.event_chain_hash(ev)
        self.rejects(doc, "event %d is not in the tree of 20 events (inclusion proof fails)" % self.SEQ)

    def test_seq(self):
        for delta in (-1, 1):
            doc = self.proof()
            doc["events"][0]["event"]["seq"] += delta
            self.rejects(doc, "its hash does not match its fields (altered)")
            doc = self.proof()
            doc["events"][0]["event"]["seq"] += delta
            doc["events"][0]["leaf_index"] += delta
            self.rejects(doc, "its hash does not match its fields (altered)")

    def test_leaf_index_off_by_one(self):
        for delta in (-1, 1):
            doc = self.proof()
            doc["events"][0]["leaf_index"] += delta
            self.rejects(doc, "leaf_index is %d" % (self.SEQ - 1 + delta))

    def test_event_after_checkpoint(self):
        doc = self.proof(size=10)
        doc["events"][0] = self.proof(size=self.N)["events"][0]
        self.rejects(doc, "event %d is not in the tree of 10 events "
                          "(the checkpoint is older than the event)" % self.SEQ)

    def test_each_path_element(self):
        base = self.proof()
        p = base["events"][0]["path"]
        self.assertGreater(len(p), 2)
        for k in range(len(p)):
            for i in (0, 31, 63):
                doc = copy.deepcopy(base)
                doc["events"][0]["path"][k] = flip_hex(p[k], i)
                self.rejects(doc, "(inclusion proof fails)")
        for q in (p[:-1], p[1:], p + [p[0]], list(reversed(p))):
            doc = copy.deepcopy(base)
            doc["events"][0]["path"] = q
            self.rejects(doc, "(inclusion proof fails)")

    def test_wrong_tenant(self):
        doc = self.proof()
        doc["events"][0]["event"]["tenant"] = "globex"
        self.rejects(doc, "event %d belongs to tenant 'globex', but the checkpoint is for 'acme'"
                     % self.SEQ)
        # Another tenant's real event, with a real proof in its own tree.
        other = make_events("globex", self.N)
        foreign = make_proof(self.key, other, self.N, [self.SEQ])
        doc = self.proof()
        doc["events"] = foreign["events"]
        self.rejects(doc, "belongs to tenant 'globex'")
        # The checkpoint's tenant changed: its signature fails.
        doc = self.proof()
        doc["checkpoint"]["tenant"] = "globex"
        self.rejects(doc, "checkpoint signature does not verify")
        # Both changed and re-signed: the event's hash fails.
        doc = self.proof()
        doc["checkpoint"]["tenant"] = "globex"
        doc["events"][0]["event"]["tenant"] = "globex"
        self.resign(doc)
        self.rejects(doc, "its hash does not match its fields")

    # -- rejected: the checkpoint

    def test_each_byte_of_the_signature(self):
        base = self.proof()
        for i in range(64):
            doc = copy.deepcopy(base)
            doc["checkpoint"]["signature"] = flip_b64_sig(base["checkpoint"]["signature"], i)
            self.rejects(doc, "checkpoint signature does not verify")

    def test_each_digit_of_the_root(self):
        base = self.proof()
        for i in range(64):
            doc = copy.deepcopy(base)
            doc["checkpoint"]["root"] = flip_hex(base["checkpoint"]["root"], i)
            self.rejects(doc, "checkpoint signature does not verify")
            # Even when the operator re-signs it, the events are not in that tree.
            self.resign(doc)
            self.rejects(doc, "(inclusion proof fails)")

    def test_size_and_time(self):
        for field, value in (("size", self.N + 1), ("size", self.N - 1), ("time", 1)):
            doc = self.proof()
            doc["checkpoint"][field] = value
            self.rejects(doc, "checkpoint signature does not verify")
        # A re-signed checkpoint of another size with that size's root.
        doc = self.proof(size=self.N - 1)
        doc["events"] = self.proof()["events"]
        self.rejects(doc, "is not in the tree of 19 events (inclusion proof fails)")

    def test_wrong_key(self):
        doc = self.proof()
        msg = self.rejects(doc, "but the key file holds key", raw=self.other_raw)
        self.assertIn(vp.key_id_of(self.other_raw), msg)
        # key_id made to match the other key: the signature still fails.
        doc["checkpoint"]["key_id"] = vp.key_id_of(self.other_raw)
        self.rejects(doc, "checkpoint signature does not verify", raw=self.other_raw)
        # Signed by the other key, checked with ours.
        doc = self.proof()
        self.resign(doc, self.other)
        self.rejects(doc, "was signed with key %s" % vp.key_id_of(self.other_raw))

    # -- malformed files

    def test_missing_fields_are_named(self):
        cases = [
            ((), "format", "proof: missing field 'format'"),
            ((), "checkpoint", "proof: missing field 'checkpoint'"),
            ((), "subject", "proof: missing field 'subject'"),
            ((), "events", "proof: missing field 'events'"),
            (("checkpoint",), "signature", "checkpoint: missing field 'signature'"),
            (("checkpoint",), "key_id", "checkpoint: missing field 'key_id'"),
            (("subject",), "name", "subject: missing field 'name'"),
            (("events", 0), "path", "events[0]: missing field 'path'"),
            (("events", 0), "leaf_index", "events[0]: missing field 'leaf_index'"),
            (("events", 0, "event"), "detail", "events[0].event: missing field 'detail'"),
            (("events", 0, "event"), "partner", "events[0].event: missing field 'partner'"),
            (("events", 0, "event"), "prev_hash", "events[0].event: missing field 'prev_hash'"),
        ]
        for where, field, message in cases:
            doc = self.proof()
            obj = doc
            for step in where:
                obj = obj[step]
            del obj[field]
            with self.assertRaises(vp.FormatError) as cm:
                vp.verify_proof(doc, self.raw)
            self.assertEqual(str(cm.exception), message)

    def test_wrong_types(self):
        cases = [
            (lambda d: d.__setitem__("format", "ferry-proof-v2"), "proof.format is"),
            (lambda d: d.__setitem__("events", []), "the proof lists no events"),
            (lambda d: d.__setitem__("events", {}), "proof.events: expected a list"),
            (lambda d: d["events"][0]["event"].__setitem__("seq", "14"), "events[0].event.seq: expected an integer"),
            (lambda d: d["events"][0]["event"].__setitem__("seq", 14.0), "events[0].event.seq: expected an integer"),
            (lambda d: d["events"][0]["event"].__setitem__("seq", True), "events[0].event.seq: expected an integer"),
            (lambda d: d["events"][0]["event"].__setitem__("seq", 0), "events[0].event.seq: 0 is out of range"),
            (lambda d: d["events"][0]["event"].__setitem__("detail", {"bytes": 1}), "events[0].event.detail: expected a string"),
            (lambda d: d["events"][0]["event"].__setitem__("hash", "AB" * 32), "events[0].event.hash: expected 64 lowercase hex digits"),
            (lambda d: d["events"][0]["path"].__setitem__(0, "zz"), "events[0].path[0]: expected 64 lowercase hex digits"),
            (lambda d: d["checkpoint"].__setitem__("signature", "not base64!"), "checkpoint.signature is not valid base64"),
            (lambda d: d["checkpoint"].__setitem__("signature", base64.b64encode(b"x" * 63).decode()), "is 64 bytes, this one is 63"),
            (lambda d: d["checkpoint"].__setitem__("signature", d["checkpoint"]["signature"][:40] + "!"
                                                    + d["checkpoint"]["signature"][40:]),
             "checkpoint.signature is not valid base64"),
            (lambda d: d["checkpoint"].__setitem__("signature", d["checkpoint"]["signature"].rstrip("=")),
             "checkpoint.signature is not valid base64"),
            (lambda d: d["checkpoint"].__setitem__("key_id", "ABCDEF0123456789"), "checkpoint.key_id: expected 16 lowercase hex digits"),
            (lambda d: d.__setitem__("checkpoint", []), "checkpoint: expected a JSON object"),
        ]
        for change, message in cases:
            doc = self.proof()
            change(doc)
            with self.assertRaises(vp.FormatError) as cm:
                vp.verify_proof(doc, self.raw)
            self.assertIn(message, str(cm.exception))

    def test_key_file(self):
        raw = self.raw
        b64 = base64.b64encode(raw).decode()
        for text in (
            "ferry-journal-ed25519 %s" % b64,
            "ferry-journal-ed25519 %s\n" % b64,
            "  ferry-journal-ed25519   %s  \r\n\n" % b64,
            "# ferry journal key, acme\n\nferry-journal-ed25519 %s\n" % b64,
        ):
            self.assertEqual(vp.parse_key(text), raw)
        for text, message in (
            ("", "found 0 non-comment lines"),
            ("ssh-ed25519 %s" % b64, "expected `ferry-journal-ed25519"),
            ("ferry-journal-ed25519 %s\nferry-journal-ed25519 %s" % (b64, b64), "found 2"),
            ("ferry-journal-ed25519 %s" % b64.rstrip("="), "not valid base64"),
            ("ferry-journal-ed25519 %s" % base64.b64encode(raw[:31]).decode(), "32 bytes, this one is 31"),
        ):
            with self.assertRaises(vp.FormatError) as cm:
                vp.parse_key(text)
            self.assertIn(message, str(cm.exception))
        self.assertEqual(vp.key_id_of(raw), vp.hashlib.sha256(raw).hexdigest()[:16])

    # -- consistency files

    def consistency_doc(self, m, n):
        leaves = leaves_of(self.events)
        return {
            "format": "ferry-consistency-v1",
            "from": sign_checkpoint(self.key, "acme", m, mth(leaves[:m]).hex(), 1000 + m),
            "to": sign_checkpoint(self.key, "acme", n, mth(leaves[:n]).hex(), 1000 + n),
            "path": [h.hex() for h in consistency(m, leaves[:n])] if m else [],
        }

    def test_consistency_file(self):
        for n in range(1, self.N + 1):
            for m in range(0, n + 1):
                lines = vp.verify_consistency_doc(self.consistency_doc(m, n), self.raw)
                self.assertEqual(lines[-1], "ok: consistent")
        doc = self.consistency_doc(7, 13)
        self.assertEqual(
            vp.verify_consistency_doc(doc, self.raw)[0],
            "acme's journal of 7 events signed at 1970-01-01T00:00:01.007Z is a prefix "
            "of its journal of 13 events signed at 1970-01-01T00:00:01.013Z")

    def test_consistency_file_rejections(self):
        base = self.consistency_doc(7, 13)
        doc = copy.deepcopy(base)
        doc["path"][1] = flip_hex(doc["path"][1], 5)
        with self.assertRaisesRegex(vp.ProofError, "is not a prefix .*consistency proof fails"):
            vp.verify_consistency_doc(doc, self.raw)
        for side in ("from", "to"):
            doc = copy.deepcopy(base)
            doc[side]["root"] = flip_hex(doc[side]["root"], 0)
            with self.assertRaisesRegex(vp.ProofError, "the '%s' checkpoint signature does not verify" % side):
                vp.verify_consistency_doc(doc, self.raw)
            cp = doc[side]
            doc[side] = sign_checkpoint(self.key, cp["tenant"], cp["size"], cp["root"], cp["time"])
            with self.assertRaisesRegex(vp.ProofError, "consistency proof fails"):
                vp.verify_consistency_doc(doc, self.raw)
        with self.assertRaisesRegex(vp.ProofError, "but the key file holds key"):
            vp.verify_consistency_doc(base, self.other_raw)
        doc = self.consistency_doc(7, 13)
        doc["from"], doc["to"] = doc["to"], doc["from"]
        with self.assertRaisesRegex(vp.ProofError, "is larger than"):
            vp.verify_consistency_doc(doc, self.raw)
        doc = self.consistency_doc(7, 13)
        other = leaves_of(make_events("globex", self.N))
        doc["to"] = sign_checkpoint(self.key, "globex", 13, mth(other[:13]).hex(), 5)
        with self.assertRaisesRegex(vp.ProofError, "different tenants"):
            vp.verify_consistency_doc(doc, self.raw)
        # A rewritten history: event 5 edited, everything after re-chained.
        forged = make_events("acme", self.N)
        forged[4]["detail"] = "{}"
        prev = forged[3]["hash"]
        for e in forged[4:]:
            e["prev_hash"] = prev
            e["hash"] = vp.event_chain_hash(e)
            prev = e["hash"]
        fl = leaves_of(forged)
        doc = self.consistency_doc(7, 13)
        doc["to"] = sign_checkpoint(self.key, "acme", 13, mth(fl[:13]).hex(), 2000)
        doc["path"] = [h.hex() for h in consistency(7, fl[:13])]
        with self.assertRaisesRegex(vp.ProofError, "consistency proof fails"):
            vp.verify_consistency_doc(doc, self.raw)

    # -- the command line

    def run_main(self, argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = vp.main(argv)
            except SystemExit as e:
                code = e.code
        return code, out.getvalue(), err.getvalue()

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            key = os.path.join(tmp, "journal.pub")
            other = os.path.join(tmp, "other.pub")
            proof = os.path.join(tmp, "orders.csv.json")
            bad = os.path.join(tmp, "bad.json")
            cons = os.path.join(tmp, "cons.json")
            with open(key, "w") as f:
                f.write(self.key_text)
            with open(other, "w") as f:
                f.write(self.other_text)
            with open(proof, "w") as f:
                json.dump(self.proof(seqs=[1, 4]), f, indent=2)
            with open(bad, "w") as f:
                f.write('{"format": "ferry-proof-v1",')
            with open(cons, "w") as f:
                json.dump(self.consistency_doc(3, 11), f)

            code, out, err = self.run_main([proof, "--key", key])
            self.assertEqual((code, err), (0, ""))
            self.assertTrue(out.endswith("ok: 2 events proven\n"))
            code, out, err = self.run_main([proof, "--key", other])
            self.assertEqual((code, out), (1, ""))
            self.assertIn("but the key file holds key", err)
            code, out, err = self.run_main([bad, "--key", key])
            self.assertEqual(code, 1)
            self.assertIn("not valid JSON", err)
            code, out, err = self.run_main([os.path.join(tmp, "none.json"), "--key", key])
            self.assertEqual(code, 1)
            code, out, err = self.run_main(["--consistency", cons, "--key", key])
            self.assertEqual((code, err), (0, ""))
            self.assertTrue(out.endswith("ok: consistent\n"))
            code, _, _ = self.run_main([proof, "--consistency", cons, "--key", key])
            self.assertEqual(code, 2)
            code, _, _ = self.run_main([proof])
            self.assertEqual(code, 2)

            # Once as a real process, as a partner would run it.
            run = subprocess.run([sys.executable, SCRIPT, proof, "--key", key],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn("event 'received' (seq 1) of orders.csv by bob at", run.stdout)
            doc = self.proof()
            doc["events"][0]["event"]["detail"] += " "
            with open(proof, "w") as f:
                json.dump(doc, f)
            run = subprocess.run([sys.executable, SCRIPT, proof, "--key", key],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True)
            self.assertEqual(run.returncode, 1)
            self.assertEqual(run.stdout, "")
            self.assertIn("event %d: its hash does not match its fields (altered)" % self.SEQ,
                          run.stderr)


if __name__ == "__main__":
    unittest.main()
