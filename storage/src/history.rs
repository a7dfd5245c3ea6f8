//! A window of history: the state of each of the last K blocks, readable and provable.
//!
//! Each block's write records, for every account and storage slot it changes, the value the
//! key had before the block ([`tables::AccountHistory`], [`tables::StorageHistory`], keyed by
//! the key then the block number), and lists the keys in the block's change set
//! ([`tables::ChangeSets`], keyed by the block number first). The state at block `n` is the
//! latest state with, for each key, the value recorded by the first block after `n` that
//! changed it (one RocksDB seek per read); a proof at `n` lays those values over the latest
//! leaves as the trie's overlay. Writing block `h` drops block `h - K`'s records (found
//! through its change set), so the window stays K blocks deep and the tables stay small.
//!
//! This is the shape of reth's change sets and history indices, folded into two tables whose
//! key order answers the read directly.
//!
//! Some states outlive the window: a block marked with [`Db::retain_state_at`] (a settlement
//! batch boundary, whose state the layer's escape path proves against) stays readable and
//! provable for the life of the database. Pruning then keeps, of each key, the record of its
//! first change after the last retained block below it (with its change-set row) and drops the
//! rest: the state at a retained block `p` needs, per key, only the first record after `p`, so
//! what stays is one record per key changed per batch, not one per block.

use crate::{
    BlockWrite, Db, Error, Result,
    tables::{self, Table},
    trie::LeafOverlay,
};
use alloy::primitives::{B256, BlockNumber};
use rocksdb::{Direction, IteratorMode};

/// Change-set row kind: an account.
const ACCOUNT: u8 = 0;
/// Change-set row kind: a storage slot.
const STORAGE: u8 = 1;

/// Blocks of history a node keeps by default: a few minutes at the busy block interval
/// (200 ms), half an hour of idle ones.
pub const DEFAULT_HISTORY_BLOCKS: u64 = 1024;

fn history_key(prefix: &[u8], block: BlockNumber) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&block.to_be_bytes());
    key
}

fn retained_key(block: BlockNumber) -> Vec<u8> {
    let mut key = tables::META_RETAINED.to_vec();
    key.extend_from_slice(&block.to_be_bytes());
    key
}

fn change_set_key(block: BlockNumber, kind: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len());
    out.extend_from_slice(&block.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(key);
    out
}

impl Db {
    /// Oldest block whose state this node still has (the bottom of the history window).
    pub fn history_from(&self) -> Result<BlockNumber> {
        Ok(self
            .meta(tables::META_HISTORY_FROM)?
            .map(|v| {
                v.as_slice().try_into().map(u64::from_be_bytes).map_err(|_| Error::corrupt("meta", "history"))
            })
            .transpose()?
            .unwrap_or(0))
    }

    /// Keeps the state at the end of `block` readable and provable after the history window
    /// has passed it (see the module docs), and raises the prune floor to it. Returns `false`,
    /// and retains nothing, when the window has already passed it (its records are gone).
    /// Idempotent.
    pub fn retain_state_at(&self, block: BlockNumber) -> Result<bool> {
        let retained = self.is_state_retained(block)? || block >= self.history_from()?;
        let mut batch = rocksdb::WriteBatch::default();
        let cf = self.cf::<tables::Meta>();
        if retained {
            batch.put_cf(cf, retained_key(block), []);
        }
        if self.prune_floor()?.is_none_or(|floor| floor < block) {
            batch.put_cf(cf, tables::META_PRUNE_FLOOR, block.to_be_bytes());
        }
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.raw().write_opt(batch, &opts)?;
        Ok(retained)
    }

    /// Holds pruning at `block` until a later [`retain_state_at`](Self::retain_state_at)
    /// raises the floor: the history window then never passes a state that may still be
    /// retained. A node that retains batch boundaries sets it before executing (the floor is
    /// read by every block's prune, so marking a state and pruning it cannot interleave: a
    /// prune that read the old floor never reaches the newly retained block). Never lowers it.
    pub fn hold_pruning_at(&self, block: BlockNumber) -> Result<()> {
        if self.prune_floor()?.is_none_or(|floor| floor < block) {
            self.put_meta(tables::META_PRUNE_FLOOR, &block.to_be_bytes())?;
        }
        Ok(())
    }

    /// The highest block the history window may pass (`None`: no limit).
    pub fn prune_floor(&self) -> Result<Option<BlockNumber>> {
        self.meta(tables::META_PRUNE_FLOOR)?
            .map(|v| {
                v.as_slice()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| Error::corrupt("meta", "prune floor"))
            })
            .transpose()
    }

    /// Whether the state at the end of `block` was retained ([`retain_state_at`](Self::retain_state_at)).
    pub fn is_state_retained(&self, block: BlockNumber) -> Result<bool> {
        Ok(self.meta(&retained_key(block))?.is_some())
    }

    /// Whether the state at the end of `block` (below the head) can be read and proven: it is in
    /// the history window, or retained.
    pub fn has_state_at(&self, block: BlockNumber) -> Result<bool> {
        Ok(block >= self.history_from()? || self.is_state_retained(block)?)
    }

    /// The last retained block before `block`.
    fn retained_before(&self, block: BlockNumber) -> Result<Option<BlockNumber>> {
        let Some(last) = block.checked_sub(1) else { return Ok(None) };
        let mut iter = self.raw().raw_iterator_cf(self.cf::<tables::Meta>());
        iter.seek_for_prev(retained_key(last));
        iter.status()?;
        Ok(iter
            .key()
            .filter(|k| k.len() == tables::META_RETAINED.len() + 8 && k.starts_with(tables::META_RETAINED))
            .map(|k| u64::from_be_bytes(k[tables::META_RETAINED.len()..].try_into().expect("8 bytes"))))
    }

    /// Whether history table `T` holds a record of `prefix` from a block in `after + 1..before`.
    fn changed_between<T: Table>(
        &self,
        prefix: &[u8],
        after: BlockNumber,
        before: BlockNumber,
    ) -> Result<bool> {
        let mut iter = self.raw().raw_iterator_cf(self.cf::<T>());
        iter.seek(history_key(prefix, after + 1));
        iter.status()?;
        Ok(iter.key().is_some_and(|key| {
            key.len() == prefix.len() + 8
                && key.starts_with(prefix)
                && u64::from_be_bytes(key[prefix.len()..].try_into().expect("8 bytes")) < before
        }))
    }

    /// The raw value of history table `T` under `prefix` as of the end of block `at`: the value
    /// recorded by the first later block that changed it, `Some(None)` if that block found it
    /// absent, `None` if no later block changed it (the latest value holds).
    fn value_before_next_change<T: Table>(
        &self,
        prefix: &[u8],
        at: BlockNumber,
    ) -> Result<Option<Option<Vec<u8>>>> {
        let Some(next) = at.checked_add(1) else { return Ok(None) };
        let mut iter = self.raw().raw_iterator_cf(self.cf::<T>());
        iter.seek(history_key(prefix, next));
        iter.status()?;
        match (iter.key(), iter.value()) {
            (Some(key), Some(value)) if key.len() == prefix.len() + 8 && key.starts_with(prefix) => {
                Ok(Some((!value.is_empty()).then(|| value.to_vec())))
            }
            _ => Ok(None),
        }
    }

    /// The RLP trie account at a hashed address as of block `at` (`None` for the head).
    pub fn account_rlp_at(&self, hashed_address: &B256, at: Option<BlockNumber>) -> Result<Option<Vec<u8>>> {
        if let Some(at) = at
            && let Some(old) =
                self.value_before_next_change::<tables::AccountHistory>(hashed_address.as_slice(), at)?
        {
            return Ok(old);
        }
        self.get::<tables::Accounts>(hashed_address)
    }

    /// The RLP storage value of a slot as of block `at` (`None` for the head; `None` result: zero).
    pub fn storage_rlp_at(
        &self,
        hashed_address: &B256,
        hashed_slot: &B256,
        at: Option<BlockNumber>,
    ) -> Result<Option<Vec<u8>>> {
        let key = tables::storage_key(hashed_address, hashed_slot);
        if let Some(at) = at
            && let Some(old) = self.value_before_next_change::<tables::StorageHistory>(&key, at)?
        {
            return Ok(old);
        }
        self.get::<tables::Storage>(key)
    }

    /// The leaves that differ between the state at block `at` and the latest state, with their
    /// values at `at`: the overlay that turns the latest trie into `at`'s. `storage_of`: that
    /// account's storage trie instead of the account trie.
    pub fn history_overlay(
        &self,
        at: BlockNumber,
        head: BlockNumber,
        storage_of: Option<&B256>,
    ) -> Result<LeafOverlay> {
        let mut keys = std::collections::BTreeSet::new();
        let (kind, prefix): (u8, &[u8]) = match storage_of {
            None => (ACCOUNT, &[]),
            Some(address) => (STORAGE, address.as_slice()),
        };
        for block in at + 1..=head {
            let start = change_set_key(block, kind, prefix);
            for item in self
                .raw()
                .iterator_cf(self.cf::<tables::ChangeSets>(), IteratorMode::From(&start, Direction::Forward))
            {
                let (key, _) = item?;
                if !key.starts_with(&start) {
                    break;
                }
                let rest = &key[start.len()..];
                if rest.len() != 32 {
                    return Err(Error::corrupt(tables::ChangeSets::NAME, "key length"));
                }
                keys.insert(B256::from_slice(rest));
            }
        }
        keys.into_iter()
            .map(|key| {
                let value = match storage_of {
                    None => self.account_rlp_at(&key, Some(at))?,
                    Some(address) => self.storage_rlp_at(address, &key, Some(at))?,
                };
                Ok((key, value))
            })
            .collect()
    }

    /// Every stored slot of an account, raw (hashed slot, RLP value): what a storage wipe
    /// records as history.
    pub fn storage_slots(&self, hashed_address: &B256) -> Result<Vec<(B256, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.raw().iterator_cf(
            self.cf::<tables::Storage>(),
            IteratorMode::From(hashed_address.as_slice(), Direction::Forward),
        ) {
            let (key, value) = item?;
            if !key.starts_with(hashed_address.as_slice()) {
                break;
            }
            out.push((B256::from_slice(&key[32..]), value.to_vec()));
        }
        Ok(out)
    }
}

impl BlockWrite {
    /// Records an account's value before block `block` changed it (`None`: it did not exist).
    pub fn account_history(&mut self, block: BlockNumber, hashed_address: &B256, before: Option<&[u8]>) {
        let cf = self.db.cf::<tables::AccountHistory>();
        self.batch.put_cf(cf, history_key(hashed_address.as_slice(), block), before.unwrap_or_default());
        let cf = self.db.cf::<tables::ChangeSets>();
        self.batch.put_cf(cf, change_set_key(block, ACCOUNT, hashed_address.as_slice()), []);
    }

    /// Records a slot's value before block `block` changed it (`None`: it was zero).
    pub fn storage_history(
        &mut self,
        block: BlockNumber,
        hashed_address: &B256,
        hashed_slot: &B256,
        before: Option<&[u8]>,
    ) {
        let key = tables::storage_key(hashed_address, hashed_slot);
        let cf = self.db.cf::<tables::StorageHistory>();
        self.batch.put_cf(cf, history_key(&key, block), before.unwrap_or_default());
        let cf = self.db.cf::<tables::ChangeSets>();
        self.batch.put_cf(cf, change_set_key(block, STORAGE, &key), []);
    }

    /// Keeps `window` blocks of history below `head` (the block being written): drops the
    /// records of block `head - window` and moves the window's bottom up.
    pub fn prune_history(&mut self, head: BlockNumber, window: u64) -> Result<()> {
        let Some(drop) = head.checked_sub(window) else { return Ok(()) };
        // Not past a state that may yet be retained (see `Db::hold_pruning_at`).
        let drop = match self.db.prune_floor()? {
            Some(floor) => drop.min(floor),
            None => drop,
        };
        // Usually one block; more when the window was made smaller since the last block. A
        // window made larger grows as blocks come: what was pruned stays pruned, and the
        // bottom never moves down.
        let from = self.db.history_from()?;
        if drop < from {
            return Ok(());
        }
        for block in from..=drop {
            // A record a retained state still needs stays, with its change-set row (which
            // later reads at that state list the changed keys from).
            let retained = self.db.retained_before(block)?;
            let prefix = block.to_be_bytes();
            let sets = self.db.cf::<tables::ChangeSets>();
            for item in self.db.raw().iterator_cf(sets, IteratorMode::From(&prefix, Direction::Forward)) {
                let (key, _) = item?;
                if !key.starts_with(&prefix) {
                    break;
                }
                let (kind, rest) = (key[8], &key[9..]);
                let first_since_retained = match (retained, kind) {
                    (None, _) => false,
                    (Some(p), ACCOUNT) => {
                        !self.db.changed_between::<tables::AccountHistory>(rest, p, block)?
                    }
                    (Some(p), STORAGE) => {
                        !self.db.changed_between::<tables::StorageHistory>(rest, p, block)?
                    }
                    _ => return Err(Error::corrupt(tables::ChangeSets::NAME, "kind")),
                };
                if first_since_retained {
                    continue;
                }
                let cf = match kind {
                    ACCOUNT => self.db.cf::<tables::AccountHistory>(),
                    _ => self.db.cf::<tables::StorageHistory>(),
                };
                self.batch.delete_cf(cf, history_key(rest, block));
                self.batch.delete_cf(sets, &key);
            }
        }
        // State at `drop` needed the records of block `drop + 1` onwards, which stay.
        self.batch.put_cf(self.db.cf::<tables::Meta>(), tables::META_HISTORY_FROM, drop.to_be_bytes());
        Ok(())
    }
}

/// An EIP-1186 proof as the trie gives it: the account and storage proofs of one address at
/// one block, each proof the RLP trie nodes from the root down to the key.
#[derive(Debug, Clone, Default)]
pub struct AccountProof {
    /// The state root the proof leads to (the block's `stateRoot` when the store is sound).
    pub state_root: B256,
    /// The account's RLP leaf (`None`: absent).
    pub account: Option<Vec<u8>>,
    /// Nodes from the state root to the account's leaf (or to where it would be).
    pub account_proof: Vec<alloy::primitives::Bytes>,
    /// The account's storage root (the empty root when it has none or is absent).
    pub storage_root: B256,
    /// Per asked slot (hashed): its RLP value (`None`: zero) and its proof.
    pub storage: Vec<(Option<Vec<u8>>, Vec<alloy::primitives::Bytes>)>,
}

impl Db {
    /// The proof of an account and some of its slots (hashed keys) at block `at` (`head`: the
    /// executed head, whose state is the stored one). `at` must be in the history window.
    pub fn account_proof(
        &self,
        hashed_address: &B256,
        hashed_slots: &[B256],
        at: BlockNumber,
        head: BlockNumber,
    ) -> Result<AccountProof> {
        use crate::trie::{TrieId, trie_root};
        use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieAccount};
        let past = (at < head).then_some(at);
        let overlay = match past {
            Some(at) => self.history_overlay(at, head, None)?,
            None => LeafOverlay::new(),
        };
        let out = trie_root(self, TrieId::Accounts, &overlay, false, std::slice::from_ref(hashed_address))?;
        let nodes = |proof: &alloy_trie::proof::ProofNodes, key: &B256| {
            proof
                .matching_nodes_sorted(&Nibbles::unpack_array(&key.0))
                .into_iter()
                .map(|(_, node)| node)
                .collect()
        };
        let account = self.account_rlp_at(hashed_address, past)?;
        let storage_root = match &account {
            Some(rlp) => alloy::rlp::Decodable::decode(&mut rlp.as_slice())
                .map(|a: TrieAccount| a.storage_root)
                .map_err(|e| Error::corrupt(tables::Accounts::NAME, e))?,
            None => EMPTY_ROOT_HASH,
        };
        let mut storage = Vec::with_capacity(hashed_slots.len());
        if !hashed_slots.is_empty() {
            let overlay = match past {
                Some(at) => self.history_overlay(at, head, Some(hashed_address))?,
                None => LeafOverlay::new(),
            };
            // An absent account has no storage trie: every slot is zero, proven by the account
            // proof alone (as geth answers).
            let proof = match account {
                Some(_) => {
                    trie_root(self, TrieId::Storage(*hashed_address), &overlay, false, hashed_slots)?.proof
                }
                None => Default::default(),
            };
            for slot in hashed_slots {
                let value = match account {
                    Some(_) => self.storage_rlp_at(hashed_address, slot, past)?,
                    None => None,
                };
                storage.push((value, nodes(&proof, slot)));
            }
        }
        Ok(AccountProof {
            state_root: out.root,
            account_proof: nodes(&out.proof, hashed_address),
            account,
            storage_root,
            storage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trie::TrieId;

    /// Writes block `block` setting `key` to `value` (recording the value before), pruned to
    /// `window`.
    fn block(db: &Db, block: BlockNumber, key: &B256, value: u8, window: u64) {
        let before = db.account_rlp_at(key, None).unwrap();
        let mut write = db.block_write();
        write.account_history(block, key, before.as_deref());
        write.leaf(TrieId::Accounts, key, Some(&[value]));
        write.prune_history(block, window).unwrap();
        write.commit().unwrap();
    }

    fn rows<T: Table>(db: &Db) -> usize {
        db.raw().iterator_cf(db.cf::<T>(), IteratorMode::Start).count()
    }

    #[test]
    fn reads_at_past_blocks_see_their_values_and_the_window_prunes_and_never_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        // Block n sets `a` to n; `b` only at blocks 3 and 6.
        for n in 1..=8u64 {
            block(&db, n, &a, n as u8, 4);
            if n == 3 || n == 6 {
                block(&db, n, &b, 100 + n as u8, 4);
            }
        }
        assert_eq!(db.history_from().unwrap(), 4);
        for n in 4..=8u64 {
            assert_eq!(db.account_rlp_at(&a, Some(n)).unwrap(), Some(vec![n as u8]), "a at {n}");
        }
        assert_eq!(db.account_rlp_at(&b, Some(5)).unwrap(), Some(vec![103]));
        assert_eq!(db.account_rlp_at(&b, Some(6)).unwrap(), Some(vec![106]));
        // The overlay that turns the head's state into block 5's.
        let overlay = db.history_overlay(5, 8, None).unwrap();
        assert_eq!(overlay.get(&a), Some(&Some(vec![5])));
        assert_eq!(overlay.get(&b), Some(&Some(vec![103])));
        // A smaller window drops every record below it at once.
        block(&db, 9, &a, 9, 2);
        assert_eq!(db.history_from().unwrap(), 7);
        assert_eq!(rows::<tables::ChangeSets>(&db), 2, "blocks 8 and 9 remain");
        assert_eq!(rows::<tables::AccountHistory>(&db), 2);
        // A larger one grows with new blocks; the bottom never moves down.
        block(&db, 10, &a, 10, 100);
        assert_eq!(db.history_from().unwrap(), 7);
        assert_eq!(db.account_rlp_at(&a, Some(7)).unwrap(), Some(vec![7]));
    }

    /// Retained states (batch boundaries) stay readable and provable far below the window,
    /// with one record per key changed per batch; other old states do not.
    #[test]
    fn retained_states_outlive_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let keys: Vec<B256> = (1..=5u8).map(B256::repeat_byte).collect();
        let window = 3;
        let account = |n: u64, k: usize| {
            alloy::rlp::encode(alloy_trie::TrieAccount {
                nonce: n,
                balance: alloy::primitives::U256::from(k),
                storage_root: alloy_trie::EMPTY_ROOT_HASH,
                code_hash: alloy_trie::KECCAK_EMPTY,
            })
        };
        let mut roots = std::collections::BTreeMap::new();
        // 60 blocks; block n changes keys n % 5 and (n * 3) % 5; a batch boundary every 10
        // blocks, retained as it closes.
        for n in 1..=60u64 {
            let changed: std::collections::BTreeSet<usize> = [(n % 5) as usize, (n * 3 % 5) as usize].into();
            let mut write = db.block_write();
            for &k in &changed {
                let before = db.account_rlp_at(&keys[k], None).unwrap();
                write.account_history(n, &keys[k], before.as_deref());
                write.leaf(TrieId::Accounts, &keys[k], Some(&account(n, k)));
            }
            write.prune_history(n, window).unwrap();
            write.commit().unwrap();
            let root = db.account_proof(&keys[0], &[], n, n).unwrap().state_root;
            roots.insert(n, root);
            if n % 10 == 0 {
                assert!(db.retain_state_at(n).unwrap());
            }
        }
        // The window stops at the last retained block (the prune floor): the next boundary
        // may yet be retained.
        assert_eq!(db.history_from().unwrap(), 50);
        for p in [10u64, 20, 30, 40, 50] {
            assert!(db.has_state_at(p).unwrap());
            // Every key's value at p: the last block <= p that changed it.
            for (k, key) in keys.iter().enumerate() {
                let last = (1..=p).rev().find(|n| (n % 5) as usize == k || (n * 3 % 5) as usize == k);
                let expected = last.map(|n| account(n, k));
                assert_eq!(db.account_rlp_at(key, Some(p)).unwrap(), expected, "key {k} at {p}");
            }
            // A proof at p leads to p's root.
            assert_eq!(db.account_proof(&keys[3], &[], p, 60).unwrap().state_root, roots[&p], "root at {p}");
        }
        assert!(!db.has_state_at(35).unwrap(), "a block between boundaries below the window");
        assert!(!db.retain_state_at(45).unwrap(), "too late to retain a pruned state");
        // At most one record per key per batch (5 keys x 5 batches), plus the window's.
        assert!(
            rows::<tables::AccountHistory>(&db) <= 5 * 5 + 2 * 10,
            "{}",
            rows::<tables::AccountHistory>(&db)
        );
    }

    /// A node that retains batch boundaries holds its window at the last retained block: a
    /// boundary not marked yet (its batch still open, or being marked while a block prunes)
    /// is never pruned first; once marked, the window moves on.
    #[test]
    fn the_window_never_passes_a_state_that_may_yet_be_retained() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.hold_pruning_at(0).unwrap();
        let key = B256::repeat_byte(7);
        let write_block = |n: u64| {
            let mut write = db.block_write();
            let before = db.account_rlp_at(&key, None).unwrap();
            write.account_history(n, &key, before.as_deref());
            write.leaf(TrieId::Accounts, &key, Some(&[n as u8]));
            write.prune_history(n, 2).unwrap();
            write.commit().unwrap();
        };
        for n in 1..=20 {
            write_block(n);
        }
        assert_eq!(db.history_from().unwrap(), 0, "held: no boundary retained yet");
        assert_eq!(db.account_rlp_at(&key, Some(5)).unwrap(), Some(vec![5]));
        assert!(db.retain_state_at(5).unwrap(), "late, but nothing was pruned");
        write_block(21);
        assert_eq!(db.history_from().unwrap(), 5);
        assert_eq!(db.account_rlp_at(&key, Some(5)).unwrap(), Some(vec![5]));
        assert!(db.retain_state_at(15).unwrap());
        write_block(22);
        assert_eq!(db.history_from().unwrap(), 15);
        for p in [5, 15] {
            assert_eq!(db.account_rlp_at(&key, Some(p)).unwrap(), Some(vec![p as u8]), "state at {p}");
        }
        db.hold_pruning_at(3).unwrap();
        assert_eq!(db.prune_floor().unwrap(), Some(15), "the floor never goes down");
    }
}
