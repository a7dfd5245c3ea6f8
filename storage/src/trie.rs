//! The incremental Merkle-Patricia trie: stored branch nodes, and a root that costs what changed.
//!
//! The trie leaves are the state tables themselves ([`tables::Accounts`], and
//! [`tables::Storage`] per account), already in hashed-key order. Beside them
//! [`tables::AccountTrie`] and [`tables::StorageTrie`] keep the trie's branch nodes, in
//! alloy-trie's [`BranchNodeCompact`] form: which children exist, which are branch nodes (with
//! their hashes) and which of those are stored too. A new root is built by alloy-trie's
//! [`HashBuilder`] from a walk of the stored nodes: a child subtree no changed key falls under
//! is added as its stored hash ([`HashBuilder::add_branch`]) and never read; everything else is
//! fed from the leaves. The work per block follows the changed keys, not the size of the state.
//! The builder's updated branch nodes, and the removal of those the walk passed that no longer
//! exist, go into the block's atomic write, so nodes and leaves never disagree on disk.
//!
//! The same walk, with the keys asked for added to the changed set and alloy-trie's
//! [`ProofRetainer`] in the builder, yields EIP-1186 proofs; with older values laid over the
//! leaves (a history overlay) it yields the root and proofs of an earlier state.
//!
//! reth's trie crate does the same with a `TrieWalker` and prefix sets; it is not published on
//! crates.io, so the walk is written here (a recursion over the stored nodes, below).

use crate::{Db, Result, tables, tables::Table};
use alloy::primitives::B256;
use alloy_trie::{
    BranchNodeCompact, EMPTY_ROOT_HASH, HashBuilder, HashMap, Nibbles, TrieMask,
    proof::{ProofNodes, ProofRetainer},
};
use std::collections::BTreeMap;

/// Which trie: the account trie, or one account's storage trie (by hashed address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrieId {
    /// The state trie: hashed address -> RLP account.
    Accounts,
    /// One account's storage trie: hashed slot -> RLP value.
    Storage(B256),
}

impl TrieId {
    /// The key prefix of this trie's rows in both its leaf and its node table.
    fn namespace(&self) -> &[u8] {
        match self {
            Self::Accounts => &[],
            Self::Storage(hashed_address) => hashed_address.as_slice(),
        }
    }

    fn leaf_cf<'a>(&self, db: &'a Db) -> &'a rocksdb::ColumnFamily {
        match self {
            Self::Accounts => db.cf::<tables::Accounts>(),
            Self::Storage(_) => db.cf::<tables::Storage>(),
        }
    }

    pub(crate) fn node_cf<'a>(&self, db: &'a Db) -> &'a rocksdb::ColumnFamily {
        match self {
            Self::Accounts => db.cf::<tables::AccountTrie>(),
            Self::Storage(_) => db.cf::<tables::StorageTrie>(),
        }
    }

    /// Key of a stored branch node: the namespace, then one byte per nibble of its path, so
    /// that RocksDB's byte order is the trie's path order (a node before its descendants).
    pub(crate) fn node_key(&self, path: &Nibbles) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.namespace().len() + path.len());
        key.extend_from_slice(self.namespace());
        key.extend(path.iter());
        key
    }
}

/// Leaf changes not yet written: hashed key -> new RLP value, `None` for a deleted leaf.
pub type LeafOverlay = BTreeMap<B256, Option<Vec<u8>>>;

/// What a root computation changes in the node table.
#[derive(Debug, Default, Clone)]
pub struct TrieUpdates {
    /// Branch nodes to store (new or changed).
    pub updated: HashMap<Nibbles, BranchNodeCompact>,
    /// Stored branch nodes that no longer exist.
    pub removed: Vec<Nibbles>,
}

impl TrieUpdates {
    /// Number of node writes (puts and deletes).
    pub fn len(&self) -> usize {
        self.updated.len() + self.removed.len()
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.updated.is_empty() && self.removed.is_empty()
    }
}

/// A root computation's result.
#[derive(Debug, Default)]
pub struct TrieOutput {
    /// The trie's root hash with the overlay applied.
    pub root: B256,
    /// The node table changes that go with it.
    pub updates: TrieUpdates,
    /// Retained proof nodes (path -> RLP node) for the keys asked for.
    pub proof: ProofNodes,
    /// Leaves fed to the hash builder (stored rows and overlay entries): the work done, which
    /// follows the changed keys rather than the trie's size.
    pub leaves_fed: usize,
}

/// Computes the root of trie `id` with `overlay` laid over its stored leaves. `wiped`: the
/// trie's stored leaves and nodes are gone (a self-destructed or re-created account), so only
/// the overlay counts. `proof_targets`: hashed keys to retain proof nodes for.
pub fn trie_root(
    db: &Db,
    id: TrieId,
    overlay: &LeafOverlay,
    wiped: bool,
    proof_targets: &[B256],
) -> Result<TrieOutput> {
    let mut changed: Vec<Nibbles> =
        overlay.keys().chain(proof_targets).map(|k| Nibbles::unpack_array(&k.0)).collect();
    changed.sort_unstable();
    changed.dedup();
    let mut builder = HashBuilder::default().with_updates(true);
    if !proof_targets.is_empty() {
        let targets = proof_targets.iter().map(|k| Nibbles::unpack_array(&k.0)).collect();
        builder = builder.with_proof_retainer(ProofRetainer::new(targets));
    }
    let mut walk = Walk {
        nodes: (!wiped).then(|| NodeCursor { id, iter: db.raw().raw_iterator_cf(id.node_cf(db)) }),
        leaves: LeafCursor::new(db, id, overlay, wiped),
        changed,
        builder,
        visited: Vec::new(),
    };
    walk.walk(Nibbles::new())?;
    walk.leaves.feed_until(None, &mut walk.builder)?;
    let root = walk.builder.root();
    let proof = walk.builder.take_proof_nodes();
    let (_, updated) = walk.builder.split();
    let removed = walk.visited.into_iter().filter(|path| !updated.contains_key(path)).collect();
    Ok(TrieOutput { root, updates: TrieUpdates { updated, removed }, proof, leaves_fed: walk.leaves.fed })
}

/// The stored branch nodes of one trie, read in path order.
struct NodeCursor<'a> {
    id: TrieId,
    iter: rocksdb::DBRawIteratorWithThreadMode<'a, rocksdb::DB>,
}

impl NodeCursor<'_> {
    /// The first stored node whose path starts with `prefix`, if any.
    fn first_under(&mut self, prefix: &Nibbles) -> Result<Option<(Nibbles, BranchNodeCompact)>> {
        self.iter.seek(self.id.node_key(prefix));
        self.iter.status()?;
        let (Some(key), Some(value)) = (self.iter.key(), self.iter.value()) else { return Ok(None) };
        let ns = self.id.namespace();
        if !key.starts_with(ns) {
            return Ok(None);
        }
        let path = Nibbles::from_nibbles_unchecked(&key[ns.len()..]);
        if !path.starts_with(prefix) {
            return Ok(None);
        }
        Ok(Some((
            path,
            decode_node(value).ok_or_else(|| crate::Error::corrupt(self.id_name(), "branch node"))?,
        )))
    }

    fn id_name(&self) -> &'static str {
        match self.id {
            TrieId::Accounts => tables::AccountTrie::NAME,
            TrieId::Storage(_) => tables::StorageTrie::NAME,
        }
    }
}

/// One trie's leaves in key order: the stored rows with the overlay merged over them. Only moves
/// forward; a skipped subtree moves it past that subtree's keys.
struct LeafCursor<'a> {
    id: TrieId,
    disk: Option<rocksdb::DBRawIteratorWithThreadMode<'a, rocksdb::DB>>,
    overlay: &'a LeafOverlay,
    /// Next key to feed; `None` once the trie's key space is exhausted.
    from: Option<B256>,
    /// The disk iterator must be sought to `from` before it is read.
    reseek: bool,
    /// Leaves fed so far.
    fed: usize,
}

impl<'a> LeafCursor<'a> {
    fn new(db: &'a Db, id: TrieId, overlay: &'a LeafOverlay, wiped: bool) -> Self {
        let disk = (!wiped).then(|| db.raw().raw_iterator_cf(id.leaf_cf(db)));
        Self { id, disk, overlay, from: Some(B256::ZERO), reseek: true, fed: 0 }
    }

    /// Feeds `builder` every leaf from the cursor up to (not including) `bound`.
    fn feed_until(&mut self, bound: Option<B256>, builder: &mut HashBuilder) -> Result<()> {
        let Some(from) = self.from else { return Ok(()) };
        if bound.is_some_and(|bound| from >= bound) {
            // Nothing between two skipped siblings: no seek (the walk's common case).
            return Ok(());
        }
        let ns = self.id.namespace();
        if let Some(disk) = self.disk.as_mut()
            && self.reseek
        {
            let mut key = ns.to_vec();
            key.extend_from_slice(from.as_slice());
            disk.seek(key);
            self.reseek = false;
        }
        let below = |key: &B256| bound.is_none_or(|bound| *key < bound);
        let overlay = self.overlay;
        let mut pending = match bound {
            Some(bound) => overlay.range(from..bound),
            None => overlay.range(from..),
        }
        .peekable();
        loop {
            let disk_key = match self.disk.as_mut() {
                Some(disk) => {
                    disk.status()?;
                    match disk.key() {
                        Some(key) if key.starts_with(ns) && key.len() == ns.len() + 32 => {
                            Some(B256::from_slice(&key[ns.len()..])).filter(below)
                        }
                        _ => None,
                    }
                }
                None => None,
            };
            let over = pending.peek().map(|(k, _)| **k);
            match (disk_key, over) {
                (None, None) => break,
                (Some(d), o) if o.is_none_or(|o| d < o) => {
                    let disk = self.disk.as_mut().expect("a disk key came from it");
                    builder.add_leaf(Nibbles::unpack_array(&d.0), disk.value().expect("valid iterator"));
                    disk.next();
                    self.fed += 1;
                }
                (d, Some(o)) => {
                    let (_, value) = pending.next().expect("peeked");
                    if let Some(value) = value {
                        builder.add_leaf(Nibbles::unpack_array(&o.0), value);
                        self.fed += 1;
                    }
                    if d == Some(o) {
                        self.disk.as_mut().expect("a disk key came from it").next();
                    }
                }
                (Some(_), None) => unreachable!("handled by the first arm"),
            }
        }
        self.from = bound;
        Ok(())
    }

    /// Moves the cursor past every key under `prefix` (a subtree added as a hash).
    fn skip(&mut self, prefix: &Nibbles) {
        self.from = prefix.increment().map(|next| lower_bound(&next));
        self.reseek = true;
    }
}

/// The walk over one trie's stored nodes that feeds the hash builder.
struct Walk<'a> {
    nodes: Option<NodeCursor<'a>>,
    leaves: LeafCursor<'a>,
    /// Changed (and proof target) keys, sorted.
    changed: Vec<Nibbles>,
    builder: HashBuilder,
    /// Paths of the stored nodes the walk went through: rebuilt by the builder, or gone.
    visited: Vec<Nibbles>,
}

impl Walk<'_> {
    /// Whether a changed key falls under `prefix`.
    fn changed_under(&self, prefix: &Nibbles) -> bool {
        let at = self.changed.partition_point(|key| key < prefix);
        self.changed.get(at).is_some_and(|key| key.starts_with(prefix))
    }

    /// Walks the stored subtree under `prefix`: each child of its top node that no changed key
    /// falls under and whose hash is stored goes to the builder as that hash; stored children
    /// are walked in turn; every leaf not under a skipped child is fed in order (lazily, by
    /// the leaf cursor, between the skips).
    fn walk(&mut self, prefix: Nibbles) -> Result<()> {
        let Some(nodes) = self.nodes.as_mut() else { return Ok(()) };
        let Some((path, node)) = nodes.first_under(&prefix)? else { return Ok(()) };
        self.visited.push(path);
        for nibble in 0..16u8 {
            if !node.state_mask.is_bit_set(nibble) {
                continue;
            }
            let mut child = path;
            child.push_unchecked(nibble);
            if node.hash_mask.is_bit_set(nibble) && !self.changed_under(&child) {
                self.leaves.feed_until(Some(lower_bound(&child)), &mut self.builder)?;
                self.builder.add_branch(
                    child,
                    node.hash_for_nibble(nibble),
                    node.tree_mask.is_bit_set(nibble),
                );
                self.leaves.skip(&child);
            } else if node.tree_mask.is_bit_set(nibble) {
                self.walk(child)?;
            }
        }
        Ok(())
    }
}

/// The smallest 32-byte key under `prefix`.
fn lower_bound(prefix: &Nibbles) -> B256 {
    let mut key = B256::ZERO;
    prefix.pack_to(key.as_mut_slice());
    key
}

/// Encodes a branch node for its table: state, tree and hash masks (u16 BE each), a flag byte
/// (1 when the root hash follows), the root hash, then the child hashes. Hand-written: reth's
/// `Compact` encoding lives in crates not published on crates.io.
pub(crate) fn encode_node(node: &BranchNodeCompact) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + 32 * (node.hashes.len() + 1));
    for mask in [node.state_mask, node.tree_mask, node.hash_mask] {
        out.extend_from_slice(&mask.get().to_be_bytes());
    }
    match node.root_hash {
        Some(root) => {
            out.push(1);
            out.extend_from_slice(root.as_slice());
        }
        None => out.push(0),
    }
    for hash in node.hashes.iter() {
        out.extend_from_slice(hash.as_slice());
    }
    out
}

/// Decodes [`encode_node`]'s bytes; `None` when they are not a well-formed node.
pub(crate) fn decode_node(bytes: &[u8]) -> Option<BranchNodeCompact> {
    let mask = |i: usize| bytes.get(i..i + 2).map(|b| TrieMask::new(u16::from_be_bytes([b[0], b[1]])));
    let (state_mask, tree_mask, hash_mask) = (mask(0)?, mask(2)?, mask(4)?);
    let (root_hash, rest) = match bytes.get(6)? {
        0 => (None, &bytes[7..]),
        1 => (Some(B256::from_slice(bytes.get(7..39)?)), &bytes[39..]),
        _ => return None,
    };
    if rest.len() != 32 * hash_mask.count_ones() as usize
        || !tree_mask.is_subset_of(state_mask)
        || !hash_mask.is_subset_of(state_mask)
    {
        return None;
    }
    let hashes = rest.chunks_exact(32).map(B256::from_slice).collect();
    Some(BranchNodeCompact::new(state_mask, tree_mask, hash_mask, hashes, root_hash))
}

/// What [`check_tries`] found: the roots rebuilt from the leaves alone, and every difference
/// between the stored branch nodes and those a from-scratch build stores.
#[derive(Debug, Default)]
pub struct TrieCheck {
    /// The account trie's root from its leaves.
    pub state_root: B256,
    /// Accounts whose storage trie was rebuilt and compared.
    pub storage_tries: usize,
    /// Every inconsistency, in words (empty when trie and state agree).
    pub problems: Vec<String>,
}

/// Rebuilds every trie from its leaves (a full scan, for tests and operators after a crash)
/// and compares: each account's storage root with its storage leaves, and the stored branch
/// nodes of every trie with those a from-scratch build stores.
pub fn check_tries(db: &Db) -> Result<TrieCheck> {
    let mut check = TrieCheck::default();
    let mut accounts = Vec::new();
    for item in db.raw().iterator_cf(db.cf::<tables::Accounts>(), rocksdb::IteratorMode::Start) {
        let (key, value) = item?;
        accounts.push((B256::from_slice(&key), value.to_vec()));
    }
    check.state_root = compare_nodes(db, TrieId::Accounts, &accounts, &mut check.problems)?;
    for (address, rlp) in &accounts {
        let account: alloy_trie::TrieAccount = alloy::rlp::Decodable::decode(&mut rlp.as_slice())
            .map_err(|e| crate::Error::corrupt(tables::Accounts::NAME, e))?;
        let slots = db.storage_slots(address)?;
        if slots.is_empty() && account.storage_root == EMPTY_ROOT_HASH {
            continue;
        }
        check.storage_tries += 1;
        let root = compare_nodes(db, TrieId::Storage(*address), &slots, &mut check.problems)?;
        if root != account.storage_root {
            check.problems.push(format!(
                "account {address}: storage root {} but its slots give {root}",
                account.storage_root
            ));
        }
    }
    // Nodes of storage tries whose account is gone.
    let mut last: Option<B256> = None;
    for item in db.raw().iterator_cf(db.cf::<tables::StorageTrie>(), rocksdb::IteratorMode::Start) {
        let (key, _) = item?;
        let address = B256::from_slice(&key[..32]);
        if last != Some(address) && accounts.binary_search_by(|(a, _)| a.cmp(&address)).is_err() {
            check.problems.push(format!("storage trie nodes of an absent account {address}"));
        }
        last = Some(address);
    }
    Ok(check)
}

/// Builds trie `id` from `leaves` with updates, records where its stored nodes differ, and
/// returns the root.
fn compare_nodes(
    db: &Db,
    id: TrieId,
    leaves: &[(B256, Vec<u8>)],
    problems: &mut Vec<String>,
) -> Result<B256> {
    let mut builder = HashBuilder::default().with_updates(true);
    for (key, value) in leaves {
        builder.add_leaf(Nibbles::unpack_array(&key.0), value);
    }
    let root = if leaves.is_empty() { EMPTY_ROOT_HASH } else { builder.root() };
    let expected: BTreeMap<Nibbles, BranchNodeCompact> = builder.split().1.into_iter().collect();
    let ns = id.namespace().to_vec();
    let mut stored = BTreeMap::new();
    for item in
        db.raw().iterator_cf(id.node_cf(db), rocksdb::IteratorMode::From(&ns, rocksdb::Direction::Forward))
    {
        let (key, value) = item?;
        if !key.starts_with(&ns) {
            break;
        }
        let path = Nibbles::from_nibbles_unchecked(&key[ns.len()..]);
        stored.insert(path, decode_node(&value));
    }
    for (path, node) in &expected {
        match stored.get(path) {
            Some(Some(found)) if found == node => {}
            Some(_) => problems.push(format!("{id:?}: stored node at {path:?} differs from the rebuilt one")),
            None => problems.push(format!("{id:?}: node at {path:?} missing")),
        }
    }
    for path in stored.keys().filter(|p| !expected.contains_key(*p)) {
        problems.push(format!("{id:?}: stale node at {path:?}"));
    }
    Ok(root)
}

/// The root of a trie given all its leaves (sorted by key): the from-scratch reference the
/// incremental root is checked against.
pub fn root_from_leaves<'a>(leaves: impl IntoIterator<Item = (&'a B256, &'a [u8])>) -> B256 {
    let mut builder = HashBuilder::default();
    let mut any = false;
    for (key, value) in leaves {
        any = true;
        builder.add_leaf(Nibbles::unpack_array(&key.0), value);
    }
    if any { builder.root() } else { EMPTY_ROOT_HASH }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{U256, keccak256};
    use alloy_trie::proof::verify_proof;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn value(rng: &mut StdRng) -> Vec<u8> {
        // Storage-like values: RLP of a U256 of random size, so some leaves are short.
        let bits = rng.gen_range(1..256);
        alloy::rlp::encode(U256::from(rng.r#gen::<u128>()) >> (128 - bits.min(128)))
    }

    /// Applies `overlay` to the model and to the db (leaves and nodes) as a block would.
    fn commit(
        db: &Db,
        id: TrieId,
        model: &mut BTreeMap<B256, Vec<u8>>,
        overlay: &LeafOverlay,
        out: &TrieOutput,
    ) {
        let mut write = db.block_write();
        for (key, value) in overlay {
            match value {
                Some(v) => {
                    model.insert(*key, v.clone());
                    write.leaf(id, key, Some(v));
                }
                None => {
                    model.remove(key);
                    write.leaf(id, key, None);
                }
            }
        }
        write.trie_updates(id, &out.updates);
        write.commit().unwrap();
    }

    fn check_random_change_sets(id: TrieId, seed: u64) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model: BTreeMap<B256, Vec<u8>> = BTreeMap::new();
        for round in 0..60 {
            // A mix of big and small change sets, inserts, updates and deletes of present keys.
            let changes = if round % 10 == 0 { rng.gen_range(500..3000) } else { rng.gen_range(1..40) };
            let mut overlay = LeafOverlay::new();
            for _ in 0..changes {
                let existing = (!model.is_empty() && rng.gen_bool(0.5))
                    .then(|| *model.keys().nth(rng.gen_range(0..model.len())).unwrap());
                match existing {
                    Some(key) if rng.gen_bool(0.5) => overlay.insert(key, None),
                    Some(key) => overlay.insert(key, Some(value(&mut rng))),
                    None => overlay.insert(keccak256(rng.r#gen::<[u8; 8]>()), Some(value(&mut rng))),
                };
            }
            // Now and then delete nearly everything, so the trie shrinks through collapses.
            if round == 33 {
                for key in model.keys().skip(3) {
                    overlay.insert(*key, None);
                }
            }
            let out = trie_root(&db, id, &overlay, false, &[]).unwrap();
            // Incremental: a small change set over a big trie reads a few leaves per change
            // (the siblings under its lowest stored node), not the whole trie.
            if overlay.len() < 40 && model.len() > 2000 {
                assert!(
                    out.leaves_fed <= 64 * overlay.len(),
                    "round {round}: {} leaves fed for {} changes over {} keys",
                    out.leaves_fed,
                    overlay.len(),
                    model.len()
                );
            }
            commit(&db, id, &mut model, &overlay, &out);
            let expected = root_from_leaves(model.iter().map(|(k, v)| (k, v.as_slice())));
            assert_eq!(
                out.root, expected,
                "round {round}: incremental root differs from the from-scratch root"
            );
            // The stored nodes are exactly those a from-scratch build stores.
            let full = trie_root_scratch_nodes(&model);
            let stored = stored_nodes(&db, id);
            assert_eq!(stored, full, "round {round}: stored branch nodes differ from a from-scratch build");
        }
    }

    fn trie_root_scratch_nodes(model: &BTreeMap<B256, Vec<u8>>) -> BTreeMap<Nibbles, BranchNodeCompact> {
        let mut builder = HashBuilder::default().with_updates(true);
        for (key, value) in model {
            builder.add_leaf(Nibbles::unpack_array(&key.0), value);
        }
        builder.root();
        builder.split().1.into_iter().collect()
    }

    fn stored_nodes(db: &Db, id: TrieId) -> BTreeMap<Nibbles, BranchNodeCompact> {
        let ns = id.namespace();
        db.raw()
            .iterator_cf(id.node_cf(db), rocksdb::IteratorMode::From(ns, rocksdb::Direction::Forward))
            .map(Result::unwrap)
            .take_while(|(k, _)| k.starts_with(ns))
            .map(|(k, v)| (Nibbles::from_nibbles(&k[ns.len()..]), decode_node(&v).unwrap()))
            .collect()
    }

    #[test]
    fn incremental_account_root_matches_a_from_scratch_root_over_random_change_sets() {
        for seed in 0..3 {
            check_random_change_sets(TrieId::Accounts, seed);
        }
    }

    #[test]
    fn incremental_storage_root_matches_a_from_scratch_root_over_random_change_sets() {
        check_random_change_sets(TrieId::Storage(keccak256([7u8; 20])), 11);
    }

    #[test]
    fn a_wiped_storage_trie_counts_only_the_new_slots_and_its_old_nodes_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let id = TrieId::Storage(keccak256([1u8; 20]));
        let other = TrieId::Storage(keccak256([2u8; 20]));
        let mut model = BTreeMap::new();
        let mut other_model = BTreeMap::new();
        let mut rng = StdRng::seed_from_u64(5);
        let fill = |rng: &mut StdRng| -> LeafOverlay {
            (0..500).map(|_| (keccak256(rng.r#gen::<[u8; 8]>()), Some(value(rng)))).collect()
        };
        for (id, model) in [(id, &mut model), (other, &mut other_model)] {
            let overlay = fill(&mut rng);
            let out = trie_root(&db, id, &overlay, false, &[]).unwrap();
            commit(&db, id, model, &overlay, &out);
        }
        let fresh = fill(&mut rng);
        let out = trie_root(&db, id, &fresh, true, &[]).unwrap();
        let mut write = db.block_write();
        let TrieId::Storage(address) = id else { unreachable!() };
        write.wipe_storage(&address);
        write.commit().unwrap();
        let mut model = BTreeMap::new();
        commit(&db, id, &mut model, &fresh, &out);
        assert_eq!(out.root, root_from_leaves(model.iter().map(|(k, v)| (k, v.as_slice()))));
        assert_eq!(stored_nodes(&db, id), trie_root_scratch_nodes(&model));
        // The neighbour's trie is untouched.
        assert_eq!(stored_nodes(&db, other), trie_root_scratch_nodes(&other_model));
        let out = trie_root(&db, other, &LeafOverlay::new(), false, &[]).unwrap();
        assert_eq!(out.root, root_from_leaves(other_model.iter().map(|(k, v)| (k, v.as_slice()))));
        assert!(out.updates.removed.is_empty());
    }

    #[test]
    fn proofs_verify_for_present_and_absent_keys_with_alloy_trie() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let mut model = BTreeMap::new();
        let overlay: LeafOverlay =
            (0..5000).map(|_| (keccak256(rng.r#gen::<[u8; 8]>()), Some(value(&mut rng)))).collect();
        let out = trie_root(&db, TrieId::Accounts, &overlay, false, &[]).unwrap();
        commit(&db, TrieId::Accounts, &mut model, &overlay, &out);
        let present: Vec<B256> = model.keys().step_by(997).copied().collect();
        let absent: Vec<B256> = (0..5).map(|i| keccak256([i as u8; 3])).collect();
        let targets: Vec<B256> = present.iter().chain(&absent).copied().collect();
        let out = trie_root(&db, TrieId::Accounts, &LeafOverlay::new(), false, &targets).unwrap();
        assert_eq!(out.root, root_from_leaves(model.iter().map(|(k, v)| (k, v.as_slice()))));
        for key in &targets {
            let nibbles = Nibbles::unpack_array(&key.0);
            let nodes: Vec<_> =
                out.proof.matching_nodes_sorted(&nibbles).into_iter().map(|(_, n)| n).collect();
            assert!(!nodes.is_empty());
            verify_proof(out.root, nibbles, model.get(key).cloned(), &nodes).unwrap();
            // A wrong value does not verify.
            assert!(verify_proof(out.root, nibbles, Some(vec![0x42]), &nodes).is_err());
        }
    }

    #[test]
    fn check_tries_finds_nothing_in_a_sound_store_and_names_a_lost_node() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let mut write = db.block_write();
        let mut accounts = LeafOverlay::new();
        for i in 0..3000u32 {
            let address = keccak256(i.to_be_bytes());
            let mut storage_root = EMPTY_ROOT_HASH;
            if i % 1000 == 0 {
                let slots: LeafOverlay =
                    (0..300).map(|_| (keccak256(rng.r#gen::<[u8; 8]>()), Some(value(&mut rng)))).collect();
                let out = trie_root(&db, TrieId::Storage(address), &slots, false, &[]).unwrap();
                for (slot, v) in &slots {
                    write.leaf(TrieId::Storage(address), slot, v.as_deref());
                }
                write.trie_updates(TrieId::Storage(address), &out.updates);
                storage_root = out.root;
            }
            let account = alloy_trie::TrieAccount { nonce: 1, storage_root, ..Default::default() };
            accounts.insert(address, Some(alloy::rlp::encode(account)));
        }
        let out = trie_root(&db, TrieId::Accounts, &accounts, false, &[]).unwrap();
        for (key, v) in &accounts {
            write.leaf(TrieId::Accounts, key, v.as_deref());
        }
        write.trie_updates(TrieId::Accounts, &out.updates);
        write.commit().unwrap();

        let check = check_tries(&db).unwrap();
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert_eq!((check.state_root, check.storage_tries), (out.root, 3));

        // Lose one stored node of a storage trie: the check names it.
        let (path, _) =
            stored_nodes(&db, TrieId::Storage(keccak256(1000u32.to_be_bytes()))).pop_last().unwrap();
        let id = TrieId::Storage(keccak256(1000u32.to_be_bytes()));
        db.raw().delete_cf(id.node_cf(&db), id.node_key(&path)).unwrap();
        let check = check_tries(&db).unwrap();
        assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
        assert!(check.problems[0].contains("missing"), "{:?}", check.problems);
    }

    #[test]
    fn branch_nodes_round_trip_and_junk_is_refused() {
        let node = BranchNodeCompact::new(
            0b1011,
            0b0001,
            0b1001,
            vec![B256::repeat_byte(1), B256::repeat_byte(2)],
            Some(B256::repeat_byte(9)),
        );
        assert_eq!(decode_node(&encode_node(&node)), Some(node.clone()));
        let mut bytes = encode_node(&node);
        bytes.pop();
        assert_eq!(decode_node(&bytes), None);
        assert_eq!(decode_node(&[0, 1, 0, 2, 0, 0, 0]), None, "tree mask outside the state mask");
    }
}
