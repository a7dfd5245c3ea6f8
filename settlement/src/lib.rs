//! The L1-facing core of flashlayer settlement.
//!
//! A layer settles on L1 through its `FlashLayer` contract (`contracts/src/FlashLayer.sol`,
//! specified in `contracts/README.md`). Every N blocks or T seconds the cluster builds a
//! [`Batch`] over a contiguous range of executed L2 blocks; each node signs it with its
//! secp256k1 settlement key ([`sign`]); the signatures are gossiped and gathered
//! ([`SignatureSet`]) until a quorum of the signer set has signed; one submitter sends
//! `submitBatch(batch, signatures)`. In the other direction, the L1 watcher reads `Deposit`
//! events and the cluster credits them on L2, and L2->L1 messages sent through the
//! `L2MessagePasser` are committed to in each batch's `messagesRoot` so that relayers can prove
//! them on L1 ([`messages`]).
//!
//! This crate holds the pure pieces both sides must agree on bit for bit with the contracts:
//! the bindings, the EIP-712 hashes and the signature rules, and the messages tree. Everything
//! here is checked against the real contracts on anvil (`tests/l1.rs`).
//!
//! # Layout
//! - [`bindings`]: `sol!` bindings of `FlashLayer` and `L2MessagePasser`, with deploy bytecode.
//! - [`batch`]: [`Batch`], its EIP-712 [`domain`], [`batch_hash`] / [`signing_hash`],
//!   [`sign`] / [`recover`] with the contract's signature rules, [`SignatureSet`] (quorum in the
//!   contract's order), [`threshold_for`], and the signer-set update digest.
//! - [`data`]: batch data ([`data::BlockData`] per block), its versioned compressed encoding
//!   and the `txDataHash` commitment to it.
//! - [`balances`]: the final balances tree the last batch commits to (claims on L1).
//! - [`messages`]: [`L2Message`] (hash, leaf, decoding from a `MessageSent` log),
//!   [`messages_root`], [`proof`], [`verify`].
//! - [`chain`]: the batch chain derived from the executed L2 chain (deterministic batch
//!   boundaries, so every node signs the same batches).
//! - [`watcher`]: the L1 watcher (confirmed L1 view and deposits for consensus, the contract's
//!   accepted and finalized batches for `safe` / `finalized`).
//! - [`verify`]: [`verify::Verifier`], the re-execution of accepted batches from their data
//!   (`flashlayer verify`).
//! - [`service`]: the node's settlement loop: sign, gossip and gather signatures, submit with a
//!   rotating submitter and takeover.

pub mod balances;
pub mod batch;
pub mod bindings;
pub mod chain;
pub mod data;
mod error;
pub mod messages;
pub mod service;
pub mod verify;
pub mod watcher;

pub use batch::{
    Batch, FINAL_BATCH_TYPE, SignatureSet, batch_hash, domain, final_signing_hash, recover, recover_digest,
    sign, sign_digest, signer_set_update_signing_hash, signing_hash, threshold_for,
};
pub use chain::{BatchChain, BatchRules, BuiltBatch, SignerSet};
pub use error::{Error, Result};
pub use messages::{EMPTY_MESSAGES_ROOT, L2Message, messages_root, proof, verify};
