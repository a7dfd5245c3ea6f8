use alloy::primitives::{Address, B256};
use thiserror::Error;

/// Settlement errors.
///
/// The signature variants mirror the FlashLayer contract's checks, so a signature this crate
/// accepts is one the contract accepts too: a bad one is dropped at gossip time instead of
/// costing a reverted `submitBatch`.
#[derive(Debug, Error)]
pub enum Error {
    /// The signature is not 65 bytes `r ++ s ++ v`.
    #[error("signature is {0} bytes, expected 65 (r ++ s ++ v)")]
    SignatureLength(usize),
    /// The signature's `v` byte is not 27 or 28.
    #[error("signature v is {0}, expected 27 or 28")]
    SignatureV(u8),
    /// The signature's `s` is in the upper half of the curve order (the malleable twin).
    #[error("signature s is in the upper half of the curve order")]
    SignatureHighS,
    /// No public key recovers from the signature.
    #[error("invalid signature: {0}")]
    InvalidSignature(#[from] alloy::primitives::SignatureError),
    /// The signature recovers to another address than the one that claims it.
    #[error("signature claimed by {claimed} recovers to {recovered}")]
    SignerMismatch {
        /// The address the signature was sent as.
        claimed: Address,
        /// The address it recovers to.
        recovered: Address,
    },
    /// The signer is not a member of the signer set.
    #[error("{0} is not in the signer set")]
    NotASigner(Address),
    /// A threshold outside `1..=members`.
    #[error("threshold {threshold} invalid for {members} signers")]
    InvalidThreshold {
        /// The threshold asked for.
        threshold: usize,
        /// Size of the signer set.
        members: usize,
    },
    /// A proof was asked for a leaf that does not exist.
    #[error("leaf index {index} out of range for {leaves} leaves")]
    LeafIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// Number of leaves.
        leaves: usize,
    },
    /// A `MessageSent` event states a hash that is not the hash of its fields.
    #[error("MessageSent states hash {stated}, its fields hash to {computed}")]
    MessageHashMismatch {
        /// The `messageHash` in the event.
        stated: B256,
        /// The hash of the event's nonce, sender, target, value and data.
        computed: B256,
    },
    /// Signing failed.
    #[error("signing: {0}")]
    Signer(#[from] alloy::signers::Error),
    /// An ABI decoding failed (e.g. a log that is not the expected event).
    #[error("abi: {0}")]
    Abi(#[from] alloy::sol_types::Error),
    /// A block the executor reported is not in the database.
    #[error("block {0} missing from the database")]
    MissingBlock(u64),
    /// Batch data that does not decode ([`crate::data`]).
    #[error("batch data: {0}")]
    Data(String),
    /// The node's database failed.
    #[error(transparent)]
    Storage(#[from] flashlayer_storage::Error),
    /// A stored execution record does not decode.
    #[error(transparent)]
    Execution(#[from] flashlayer_execution::Error),
}

/// Result with the settlement [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
