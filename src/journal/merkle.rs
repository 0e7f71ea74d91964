//! The Merkle tree over a tenant's events (RFC 6962, RFC 9162 §2.1): the
//! structure of Certificate Transparency, from which inclusion and
//! consistency proofs of O(log n) hashes are cut.
//!
//! Leaf `i` is event `seq = i + 1`; its data is the event's chain hash (32
//! bytes), so a leaf binds every field of the event and, through the chain,
//! everything before it. `leaf = SHA-256(0x00 || data)`,
//! `node = SHA-256(0x01 || left || right)`.
//!
//! The backends keep every perfect, aligned subtree (`level`, `index`: the
//! leaves `[index * 2^level, (index + 1) * 2^level)`) as it completes
//! ([`append`]), so any range the RFC's recursion visits is the fold of at
//! most log2(n) stored nodes ([`blocks`]): a proof costs that many point
//! reads, whatever the journal's size.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// One stored subtree: its level (0 for leaves) and index at that level.
pub type NodeId = (u32, u64);

pub fn leaf_hash(data: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of an empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where [`append`] keeps the nodes: a backend's transaction.
pub trait NodeStore {
    type Error;
    fn get(&mut self, id: NodeId) -> Result<Hash, Self::Error>;
    fn put(&mut self, id: NodeId, hash: Hash) -> Result<(), Self::Error>;
}

/// Adds leaf `index` (the tree held `index` leaves) with the event hash
/// `data`, and every subtree it completes.
pub fn append<S: NodeStore>(store: &mut S, index: u64, data: &Hash) -> Result<(), S::Error> {
    let mut hash = leaf_hash(data);
    let (mut level, mut idx) = (0u32, index);
    store.put((level, idx), hash)?;
    // An odd index closes a pair: its parent is complete.
    while idx & 1 == 1 {
        let left = store.get((level, idx - 1))?;
        hash = node_hash(&left, &hash);
        level += 1;
        idx >>= 1;
        store.put((level, idx), hash)?;
    }
    Ok(())
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The stored subtrees whose fold is the hash of leaves `[a, b)`: the
/// largest aligned blocks, left to right.
pub fn blocks(mut a: u64, b: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    while a < b {
        let aligned = if a == 0 { 63 } else { a.trailing_zeros() };
        let fits = 63 - (b - a).leading_zeros();
        let level = aligned.min(fits);
        out.push((level, a >> level));
        a += 1 << level;
    }
    out
}

/// The hash of a range from the hashes of its [`blocks`]: folded from the
/// right, as the RFC's recursion splits a range at its largest power of two.
pub fn fold(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    let Some(last) = iter.next() else {
        return empty_root();
    };
    iter.fold(*last, |right, left| node_hash(left, &right))
}

/// The ranges whose hashes make the inclusion proof of leaf `m` in a tree
/// of `n` leaves (RFC 6962 §2.1.1 PATH), leaf to root.
pub fn inclusion_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
        let n = hi - lo;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(m, lo, lo + k, out);
            out.push((lo + k, hi));
        } else {
            path(m - k, lo + k, hi, out);
            out.push((lo, lo + k));
        }
    }
    let mut out = Vec::new();
    path(m, 0, n, &mut out);
    out
}

/// The ranges whose hashes prove that the tree of `m` leaves is a prefix
/// of the tree of `n` (RFC 6962 §2.1.2 PROOF), for `0 < m < n`.
pub fn consistency_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    fn sub(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push((lo, hi));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            sub(m, lo, lo + k, whole, out);
            out.push((lo + k, hi));
        } else {
            sub(m - k, lo + k, hi, false, out);
            out.push((lo, lo + k));
        }
    }
    let mut out = Vec::new();
    if 0 < m && m < n {
        sub(m, 0, n, true, &mut out);
    }
    out
}

/// The hashes of `ranges`, each the fold of its blocks, with every block
/// read in one call of `read`.
pub fn range_hashes<E>(
    ranges: &[(u64, u64)],
    read: impl FnOnce(&[NodeId]) -> Result<Vec<Hash>, E>,
) -> Result<Vec<Hash>, E> {
    let per_range: Vec<Vec<NodeId>> = ranges.iter().map(|&(a, b)| blocks(a, b)).collect();
    let all: Vec<NodeId> = per_range.iter().flatten().copied().collect();
    let hashes = read(&all)?;
    let mut at = 0;
    Ok(per_range
        .iter()
        .map(|ids| {
            let h = fold(&hashes[at..at + ids.len()]);
            at += ids.len();
            h
        })
        .collect())
}

/// Whether `path` proves leaf `index` (with hash `leaf`) in the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn, mut r) = (index, size - 1, *leaf);
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Whether `path` proves the tree of `first` leaves with root `first_root`
/// a prefix of the tree of `second` leaves with root `second_root`
/// (RFC 9162 §2.1.4.2; equal sizes need an empty path and equal roots).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    path: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return path.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return path.is_empty();
    }
    if path.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = path.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *first_root && sr == *second_root && sn == 0
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Mem(HashMap<NodeId, Hash>);

    impl NodeStore for Mem {
        type Error = String;
        fn get(&mut self, id: NodeId) -> Result<Hash, String> {
            self.0.get(&id).copied().ok_or(format!("no node {id:?}"))
        }
        fn put(&mut self, id: NodeId, hash: Hash) -> Result<(), String> {
            self.0.insert(id, hash);
            Ok(())
        }
    }

    /// RFC 6962's MTH, by its definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn data(i: u64) -> Hash {
        Sha256::digest(i.to_be_bytes()).into()
    }

    #[test]
    fn stored_nodes_give_every_root_and_proof() {
        let mut store = Mem(HashMap::new());
        let leaves: Vec<Hash> = (0..70).map(data).collect();
        for (i, d) in leaves.iter().enumerate() {
            append(&mut store, i as u64, d).unwrap();
        }
        let read = |ids: &[NodeId]| -> Result<Vec<Hash>, String> {
            ids.iter()
                .map(|id| store.0.get(id).copied().ok_or(format!("{id:?}")))
                .collect()
        };
        for n in 1..=70u64 {
            let root = range_hashes(&[(0, n)], read).unwrap()[0];
            assert_eq!(root, mth(&leaves[..n as usize]), "root of {n}");
            for m in 0..n {
                let path = range_hashes(&inclusion_ranges(m, n), read).unwrap();
                let leaf = leaf_hash(&leaves[m as usize]);
                assert!(verify_inclusion(m, n, &leaf, &path, &root), "{m} in {n}");
                assert!(!verify_inclusion(
                    m,
                    n,
                    &leaf_hash(&data(999)),
                    &path,
                    &root
                ));
                if let Some(first) = path.first() {
                    let mut bad = path.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(m, n, &leaf, &bad, &root));
                }
                if m > 0 {
                    let old = mth(&leaves[..m as usize]);
                    let proof = range_hashes(&consistency_ranges(m, n), read).unwrap();
                    assert!(verify_consistency(m, n, &old, &root, &proof), "{m} to {n}");
                    assert!(!verify_consistency(m, n, &root, &root, &proof));
                }
            }
        }
    }
}
