#!/usr/bin/env python3
"""Verify a ferry journal proof without ferry.

    python3 tools/verify_proof.py PROOF.json --key KEY_FILE
    python3 tools/verify_proof.py --consistency CONS.json --key KEY_FILE

PROOF.json is a `ferry-proof-v1` file (for example /receipts/proofs/NAME.json,
downloaded by a partner). CONS.json is a `ferry-consistency-v1` file. KEY_FILE
holds the journal's public key as `ferry journal key` prints it.

The formats and the algorithms are described in docs/proofs.md. This file
needs only the Python standard library (3.9 or later) and the `cryptography`
package, and can be copied out of the repository on its own.

Exit status: 0 when everything verifies, 1 when something does not (or a file
is malformed or unreadable), 2 for wrong command-line usage.
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import json
import re
import struct
import sys

PROOF_FORMAT = "ferry-proof-v1"
CONSISTENCY_FORMAT = "ferry-consistency-v1"
CHAIN_DOMAIN = "ferry-journal-v1"
CHECKPOINT_HEADER = "ferry-checkpoint-v1"
KEY_PREFIX = "ferry-journal-ed25519"
GENESIS = "0" * 64

U64_MAX = 2**64 - 1
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")


class ProofError(Exception):
    """Something did not verify, or an input is malformed."""


class FormatError(ProofError):
    """An input file is not in the expected form."""


# --------------------------------------------------------------------------
# Hashing


def _sha256(data):
    return hashlib.sha256(data).digest()


def chain_hash(prev_hash, tenant, seq, at, kind, message, partner, detail):
    """The journal's chain hash of one event, as 64 lowercase hex digits.

    Each field is fed to SHA-256 as its UTF-8 byte length (u64, big-endian)
    followed by its UTF-8 bytes. `message` and `partner` are None when null.
    """
    h = hashlib.sha256()
    for field in (
        CHAIN_DOMAIN,
        prev_hash,
        tenant,
        str(seq),
        str(at),
        kind,
        "" if message is None else str(message),
        "" if partner is None else partner,
        detail,
    ):
        data = field.encode("utf-8")
        h.update(struct.pack(">Q", len(data)))
        h.update(data)
    return h.hexdigest()


def event_chain_hash(event):
    """chain_hash() over a (validated) event dict."""
    return chain_hash(
        event["prev_hash"],
        event["tenant"],
        event["seq"],
        event["at"],
        event["kind"],
        event["message"],
        event["partner"],
        event["detail"],
    )


def leaf_hash(data):
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data)


def node_hash(left, right):
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right)


EMPTY_ROOT = _sha256(b"")  # MTH of the empty tree (RFC 9162 section 2.1.1)


# --------------------------------------------------------------------------
# Merkle proofs (RFC 9162 section 2.1)


def verify_inclusion(leaf_index, tree_size, leaf, path, root):
    """RFC 9162 section 2.1.3.2: is `leaf` (a leaf hash) at `leaf_index` in
    the tree of `tree_size` leaves whose root is `root`?

    `path` is the list of 32-byte hashes from the proof. Returns a bool.
    """
    if leaf_index < 0 or leaf_index >= tree_size:
        return False
    fn = leaf_index
    sn = tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162 section 2.1.4.2: is the tree of `first` leaves with root
    `first_root` a prefix of the tree of `second` leaves with root
    `second_root`?

    The RFC covers 0 < first < second. Here also: first == second holds when
    the path is empty and the roots are equal; first == 0 holds when the path
    is empty and first_root is the empty tree's hash (SHA-256 of nothing).
    Returns a bool.
    """
    if first < 0 or second < 0 or first > second:
        return False
    if first == second:
        return (
            not path
            and first_root == second_root
            and (first > 0 or first_root == EMPTY_ROOT)
        )
    if first == 0:
        return not path and first_root == EMPTY_ROOT
    # 1. An empty path cannot prove anything here.
    if not path:
        return False
    path = list(path)
    # 2. If first is an exact power of 2, prepend first_hash to the path.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # 3.
    fn = first - 1
    sn = second - 1
    # 4. If LSB(fn) is set, shift both right until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    return fr == first_root and sr == second_root and sn == 0


# --------------------------------------------------------------------------
# Keys and checkpoints


def key_id_of(raw_key):
    """The first 16 hex digits of SHA-256 over the raw 32-byte public key."""
    return hashlib.sha256(raw_key).hexdigest()[:16]


def parse_key(text, where="key file"):
    """The raw 32-byte Ed25519 public key from a key file's text."""
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    if len(lines) != 1:
        raise FormatError(
            "%s: expected one line `%s <base64 key>`, found %d non-comment lines"
            % (where, KEY_PREFIX, len(lines))
        )
    parts = lines[0].split()
    if len(parts) != 2 or parts[0] != KEY_PREFIX:
        raise FormatError(
            "%s: expected `%s <base64 key>`, found %r" % (where, KEY_PREFIX, lines[0][:80])
        )
    raw = _b64decode(parts[1], "%s: the key" % where)
    if len(raw) != 32:
        raise FormatError(
            "%s: an Ed25519 public key is 32 bytes, this one is %d" % (where, len(raw))
        )
    return raw


def checkpoint_text(checkpoint):
    """The exact bytes a checkpoint's signature covers."""
    return (
        "%s\ntenant %s\nsize %d\nroot %s\ntime %d\n"
        % (
            CHECKPOINT_HEADER,
            checkpoint["tenant"],
            checkpoint["size"],
            checkpoint["root"],
            checkpoint["time"],
        )
    ).encode("utf-8")


def verify_checkpoint(checkpoint, raw_key, what="checkpoint"):
    """Raises ProofError unless the (validated) checkpoint is signed by the key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key_id = key_id_of(raw_key)
    if checkpoint["key_id"] != key_id:
        raise ProofError(
            "%s was signed with key %s, but the key file holds key %s"
            % (what, checkpoint["key_id"], key_id)
        )
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(
            checkpoint["signature_bytes"], checkpoint_text(checkpoint)
        )
    except InvalidSignature:
        raise ProofError("%s signature does not verify" % what) from None
    except ValueError as e:  # a key the library refuses outright
        raise ProofError("%s signature cannot be checked: %s" % (what, e)) from None


# --------------------------------------------------------------------------
# Reading the JSON files


def _b64decode(text, what):
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise FormatError("%s is not valid base64" % what) from None


def _field(obj, name, where):
    if not isinstance(obj, dict):
        raise FormatError("%s: expected a JSON object" % where)
    if name not in obj:
        raise FormatError("%s: missing field '%s'" % (where, name))
    return obj[name]


def _str(obj, name, where, nullable=False):
    value = _field(obj, name, where)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise FormatError(
            "%s.%s: expected a string%s" % (where, name, " or null" if nullable else "")
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a "\udxxx" escape
        raise FormatError(
            "%s.%s: not valid Unicode (a lone surrogate escape)" % (where, name)
        ) from None
    return value


def _int(obj, name, where, lo, hi, nullable=False):
    value = _field(obj, name, where)
    if value is None and nullable:
        return None
    # bool is an int in Python; JSON true/false is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise FormatError(
            "%s.%s: expected an integer%s" % (where, name, " or null" if nullable else "")
        )
    if value < lo or value > hi:
        raise FormatError("%s.%s: %d is out of range" % (where, name, value))
    return value


def _hex64(obj, name, where, nullable=False):
    value = _str(obj, name, where, nullable)
    if value is None:
        return None
    if not _HEX64.match(value):
        raise FormatError("%s.%s: expected 64 lowercase hex digits" % (where, name))
    return value


def _hex_list(obj, name, where):
    value = _field(obj, name, where)
    if not isinstance(value, list):
        raise FormatError("%s.%s: expected a list of hashes" % (where, name))
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _HEX64.match(item):
            raise FormatError(
                "%s.%s[%d]: expected 64 lowercase hex digits" % (where, name, i)
            )
        out.append(bytes.fromhex(item))
    return out


def parse_checkpoint(obj, where="checkpoint"):
    cp = {
        "tenant": _str(obj, "tenant", where),
        "size": _int(obj, "size", where, 0, U64_MAX),
        "root": _hex64(obj, "root", where),
        "time": _int(obj, "time", where, I64_MIN, I64_MAX),
        "key_id": _str(obj, "key_id", where),
        "signature": _str(obj, "signature", where),
    }
    if not _HEX16.match(cp["key_id"]):
        raise FormatError("%s.key_id: expected 16 lowercase hex digits" % where)
    if "\n" in cp["tenant"] or "\r" in cp["tenant"]:
        raise FormatError("%s.tenant: contains a line break" % where)
    sig = _b64decode(cp["signature"], "%s.signature" % where)
    if len(sig) != 64:
        raise FormatError(
            "%s.signature: an Ed25519 signature is 64 bytes, this one is %d"
            % (where, len(sig))
        )
    cp["signature_bytes"] = sig
    return cp


def parse_event(obj, where):
    return {
        "tenant": _str(obj, "tenant", where),
        "seq": _int(obj, "seq", where, 1, U64_MAX),
        "at": _int(obj, "at", where, I64_MIN, I64_MAX),
        "kind": _str(obj, "kind", where),
        "message": _int(obj, "message", where, I64_MIN, I64_MAX, nullable=True),
        "partner": _str(obj, "partner", where, nullable=True),
        "detail": _str(obj, "detail", where),
        "prev_hash": _hex64(obj, "prev_hash", where),
        "hash": _hex64(obj, "hash", where),
    }


def parse_proof(doc):
    fmt = _field(doc, "format", "proof")
    if fmt != PROOF_FORMAT:
        raise FormatError(
            "proof.format is %r; this tool reads %r" % (fmt, PROOF_FORMAT)
        )
    checkpoint = parse_checkpoint(_field(doc, "checkpoint", "proof"), "checkpoint")
    subject_obj = _field(doc, "subject", "proof")
    # The subject is an unsigned label: read, never trusted, so not checked
    # beyond its shape.
    subject = {
        "partner": _str(subject_obj, "partner", "subject", nullable=True),
        "name": _str(subject_obj, "name", "subject", nullable=True),
        "sha256": _str(subject_obj, "sha256", "subject", nullable=True),
    }
    items = _field(doc, "events", "proof")
    if not isinstance(items, list):
        raise FormatError("proof.events: expected a list")
    if not items:
        raise FormatError("proof.events: the proof lists no events")
    events = []
    for i, item in enumerate(items):
        where = "events[%d]" % i
        event = parse_event(_field(item, "event", where), where + ".event")
        leaf_index = _int(item, "leaf_index", where, 0, U64_MAX)
        path = _hex_list(item, "path", where)
        events.append((event, leaf_index, path))
    return checkpoint, subject, events


def parse_consistency(doc):
    fmt = _field(doc, "format", "consistency")
    if fmt != CONSISTENCY_FORMAT:
        raise FormatError(
            "consistency.format is %r; this tool reads %r" % (fmt, CONSISTENCY_FORMAT)
        )
    old = parse_checkpoint(_field(doc, "from", "consistency"), "from")
    new = parse_checkpoint(_field(doc, "to", "consistency"), "to")
    path = _hex_list(doc, "path", "consistency")
    return old, new, path


# --------------------------------------------------------------------------
# Verification


def format_time(ms):
    """UTC ISO 8601; milliseconds shown only when not zero."""
    try:
        t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    except OverflowError:
        return "%d ms after the Unix epoch" % ms
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (
        t.year, t.month, t.day, t.hour, t.minute, t.second,
    )
    if ms % 1000:
        text += ".%03d" % (ms % 1000)
    return text + "Z"


def _events(n):
    return "%s event%s" % (format(n, ","), "" if n == 1 else "s")


def verify_proof(doc, raw_key):
    """Verifies a parsed ferry-proof-v1 document against the raw public key.

    Returns the lines to print on success; raises ProofError otherwise.
    """
    checkpoint, subject, events = parse_proof(doc)
    verify_checkpoint(checkpoint, raw_key)
    tenant = checkpoint["tenant"]
    size = checkpoint["size"]
    root = bytes.fromhex(checkpoint["root"])
    lines = []
    for event, leaf_index, path in events:
        seq = event["seq"]
        if event["tenant"] != tenant:
            raise ProofError(
                "event %d belongs to tenant %r, but the checkpoint is for %r"
                % (seq, event["tenant"], tenant)
            )
        if event_chain_hash(event) != event["hash"]:
            raise ProofError(
                "event %d: its hash does not match its fields (altered)" % seq
            )
        if leaf_index != seq - 1:
            raise ProofError(
                "event %d: leaf_index is %d, but event %d is leaf %d"
                % (seq, leaf_index, seq, seq - 1)
            )
        if leaf_index >= size:
            raise ProofError(
                "event %d is not in the tree of %s (the checkpoint is older than the event)"
                % (seq, _events(size))
            )
        leaf = leaf_hash(bytes.fromhex(event["hash"]))
        if not verify_inclusion(leaf_index, size, leaf, path, root):
            raise ProofError(
                "event %d is not in the tree of %s (inclusion proof fails)"
                % (seq, _events(size))
            )
        line = "event '%s' (seq %d)" % (event["kind"], seq)
        if subject["name"] is not None:
            line += " of %s" % subject["name"]
        if event["partner"] is not None:
            line += " by %s" % event["partner"]
        line += " at %s is in %s's journal of %s, signed at %s" % (
            format_time(event["at"]),
            tenant,
            _events(size),
            format_time(checkpoint["time"]),
        )
        lines.append(line)
    lines.append("ok: %s proven" % _events(len(events)))
    return lines


def verify_consistency_doc(doc, raw_key):
    """Verifies a parsed ferry-consistency-v1 document against the raw key.

    Returns the lines to print on success; raises ProofError otherwise.
    """
    old, new, path = parse_consistency(doc)
    verify_checkpoint(old, raw_key, "the 'from' checkpoint")
    verify_checkpoint(new, raw_key, "the 'to' checkpoint")
    if old["tenant"] != new["tenant"]:
        raise ProofError(
            "the checkpoints are of different tenants (%r and %r)"
            % (old["tenant"], new["tenant"])
        )
    if old["size"] > new["size"]:
        raise ProofError(
            "the 'from' checkpoint (%s) is larger than the 'to' checkpoint (%s)"
            % (_events(old["size"]), _events(new["size"]))
        )
    if not verify_consistency(
        old["size"],
        new["size"],
        bytes.fromhex(old["root"]),
        bytes.fromhex(new["root"]),
        path,
    ):
        raise ProofError(
            "%s's journal of %s is not a prefix of its journal of %s "
            "(consistency proof fails): events were changed or removed"
            % (old["tenant"], _events(old["size"]), _events(new["size"]))
        )
    return [
        "%s's journal of %s signed at %s is a prefix of its journal of %s signed at %s"
        % (
            old["tenant"],
            _events(old["size"]),
            format_time(old["time"]),
            _events(new["size"]),
            format_time(new["time"]),
        ),
        "ok: consistent",
    ]


# --------------------------------------------------------------------------
# Command line


def _read_json(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FormatError("%s: %s" % (path, e.strerror or e)) from None
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise FormatError("%s: not UTF-8 text" % path) from None
    except ValueError as e:
        raise FormatError("%s: not valid JSON (%s)" % (path, e)) from None


def _read_key(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FormatError("%s: %s" % (path, e.strerror or e)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("%s: not UTF-8 text" % path) from None
    return parse_key(text, path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="verify_proof.py",
        description="Verify a ferry journal proof (ferry-proof-v1) or a "
        "consistency proof between two checkpoints (ferry-consistency-v1). "
        "See docs/proofs.md.",
    )
    parser.add_argument("proof", nargs="?", metavar="PROOF.json",
                        help="a ferry-proof-v1 file")
    parser.add_argument("--consistency", metavar="CONS.json",
                        help="a ferry-consistency-v1 file, instead of a proof")
    parser.add_argument("--key", required=True, metavar="KEY_FILE",
                        help="the public key, as `ferry journal key` prints it")
    args = parser.parse_args(argv)
    if (args.proof is None) == (args.consistency is None):
        parser.error("give either PROOF.json or --consistency CONS.json")

    try:
        raw_key = _read_key(args.key)
        if args.proof is not None:
            lines = verify_proof(_read_json(args.proof), raw_key)
        else:
            lines = verify_consistency_doc(_read_json(args.consistency), raw_key)
    except ProofError as e:
        print("verify_proof: %s" % e, file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
