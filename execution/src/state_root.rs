//! State changes and the state root they lead to.
//!
//! A block's changes become trie leaf changes (hashed keys, RLP values); the incremental trie
//! of `flashlayer_storage::trie` rehashes the paths under them against the stored branch
//! nodes, and leaves, nodes and the block go into one atomic write.

use crate::Result;
use alloy::primitives::{Address, B256, BlockNumber, Bytes, U256, keccak256};
use alloy::rlp::Decodable;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use flashlayer_storage::{
    BlockWrite, Db,
    trie::{LeafOverlay, TrieId, TrieOutput, trie_root},
};
use rayon::prelude::*;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// What a block did to one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// New nonce, balance and code hash; `None` deletes the account (self-destruct, or an
    /// empty account touched under EIP-161).
    pub info: Option<(u64, U256, B256)>,
    /// All previous storage is gone (self-destruct or creation over an old address).
    pub storage_wiped: bool,
    /// Slot -> new value (zero deletes).
    pub storage: HashMap<U256, U256>,
    /// Code to store for a newly created contract.
    pub new_code: Option<Bytes>,
}

/// A block's state changes, by account.
pub type StateChanges = HashMap<Address, AccountChange>;

/// The storage trie work of one account: its hashed address, whether its old slots are gone,
/// and its slot changes as trie leaves.
struct StorageJob {
    hashed: B256,
    wiped: bool,
    overlay: LeafOverlay,
}

/// A storage job's result: the account, its new trie (`None`: wiped and empty), and the values
/// its changes overwrite (hashed slot, RLP value or `None` for zero).
type StorageDone = (B256, Option<TrieOutput>, Vec<(B256, Option<Vec<u8>>)>);

/// Adds `changes` to `write` and returns the resulting state root, with the time the trie work
/// took (what the node's `state_root_seconds` histogram shows). With `block`, the values the
/// changes overwrite are recorded as that block's history (`flashlayer_storage::history`).
///
/// Only the paths under changed keys are rehashed ([`flashlayer_storage::trie`]); storage tries
/// of different accounts are computed in parallel, then the account trie over their roots.
pub fn apply_changes(
    db: &Db,
    changes: &StateChanges,
    write: &mut BlockWrite,
    block: Option<BlockNumber>,
) -> Result<(B256, Duration)> {
    let started = Instant::now();
    let mut jobs = Vec::new();
    for (address, change) in changes {
        let hashed = keccak256(address);
        let wiped = change.info.is_none() || change.storage_wiped;
        if wiped {
            write.wipe_storage(&hashed);
        }
        // A deleted account has no storage trie left to compute.
        let overlay: LeafOverlay = change
            .storage
            .iter()
            .filter(|_| change.info.is_some())
            .map(|(slot, value)| {
                (keccak256(B256::from(*slot)), (!value.is_zero()).then(|| alloy::rlp::encode(value)))
            })
            .collect();
        if change.info.is_some() {
            for (hashed_slot, value) in &overlay {
                write.leaf(TrieId::Storage(hashed), hashed_slot, value.as_deref());
            }
        }
        if wiped || !overlay.is_empty() {
            jobs.push(StorageJob { hashed, wiped, overlay });
        }
    }
    // Storage tries of different accounts share nothing: hash them (and read the values they
    // overwrite) in parallel.
    let storage: Vec<StorageDone> = jobs
        .par_iter()
        .map(|job| -> Result<_> {
            let mut before = Vec::new();
            if block.is_some() {
                let mut seen = std::collections::HashSet::new();
                if job.wiped {
                    for (slot, value) in db.storage_slots(&job.hashed)? {
                        seen.insert(slot);
                        before.push((slot, Some(value)));
                    }
                }
                for slot in job.overlay.keys() {
                    if !seen.contains(slot) {
                        before.push((*slot, db.storage_rlp_at(&job.hashed, slot, None)?));
                    }
                }
            }
            let out = match job.wiped && job.overlay.is_empty() {
                true => None,
                false => Some(trie_root(db, TrieId::Storage(job.hashed), &job.overlay, job.wiped, &[])?),
            };
            Ok((job.hashed, out, before))
        })
        .collect::<Result<_>>()?;
    let mut storage_roots: HashMap<B256, B256> = HashMap::new();
    for (hashed, out, before) in &storage {
        if let Some(block) = block {
            for (slot, value) in before {
                write.storage_history(block, hashed, slot, value.as_deref());
            }
        }
        let root = match out {
            Some(out) => {
                write.trie_updates(TrieId::Storage(*hashed), &out.updates);
                out.root
            }
            None => EMPTY_ROOT_HASH,
        };
        storage_roots.insert(*hashed, root);
    }

    let mut account_overlay = LeafOverlay::new();
    for (address, change) in changes {
        let hashed = keccak256(address);
        let stored = db.account_rlp_at(&hashed, None)?;
        if let Some(block) = block {
            write.account_history(block, &hashed, stored.as_deref());
        }
        let Some((nonce, balance, code_hash)) = change.info else {
            account_overlay.insert(hashed, None);
            write.account(&hashed, None);
            continue;
        };
        let storage_root = match storage_roots.get(&hashed) {
            Some(root) => *root,
            None => match stored {
                Some(rlp) => {
                    TrieAccount::decode(&mut rlp.as_slice())
                        .map_err(|e| flashlayer_storage::Error::corrupt("accounts", e))?
                        .storage_root
                }
                None => EMPTY_ROOT_HASH,
            },
        };
        if let Some(code) = &change.new_code
            && code_hash != KECCAK_EMPTY
        {
            write.code(&code_hash, code);
        }
        let account = TrieAccount::new(nonce, balance, storage_root, code_hash);
        write.account(&hashed, Some(&account));
        account_overlay.insert(hashed, Some(alloy::rlp::encode(account)));
    }
    let out = trie_root(db, TrieId::Accounts, &account_overlay, false, &[])?;
    write.trie_updates(TrieId::Accounts, &out.updates);
    Ok((out.root, started.elapsed()))
}
