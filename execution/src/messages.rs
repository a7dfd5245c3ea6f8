//! The L2 side of settlement: the `L2MessagePasser` system contract predeployed in every
//! layer's genesis, the L2->L1 messages it emits, and what each block records for the batches
//! that settle it (its L1 origin, the deposits it credited, the messages it sent).

use crate::{Deposit, L1Origin};
use alloy::{
    primitives::{Address, B256, Bytes, U256, address},
    rlp::{RlpDecodable, RlpEncodable},
    sol_types::SolEvent,
};
use std::sync::LazyLock;

/// Where `L2MessagePasser` lives on every layer.
pub const L2_MESSAGE_PASSER: Address = address!("0xf1a5000000000000000000000000000000000001");

/// `sol!` over the checked-in artifact (kept in step with the sources by
/// `scripts/contract-artifacts --check`): the event and the runtime code come from the compiler,
/// not from a second hand-written copy.
mod passer {
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    alloy::sol!(L2MessagePasser, "../contracts/artifacts/L2MessagePasser.json");
}

/// `L2MessagePasser`'s `MessageSent(nonce, sender, target, value, data, messageHash)`.
pub use passer::L2MessagePasser::MessageSent;

/// Runtime bytecode of `L2MessagePasser`, placed at [`L2_MESSAGE_PASSER`] in every genesis.
pub static L2_MESSAGE_PASSER_CODE: LazyLock<Bytes> =
    LazyLock::new(|| passer::L2MessagePasser::DEPLOYED_BYTECODE.clone());

/// One L2->L1 message, as `MessageSent` reported it.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct SentMessage {
    /// The passer's message nonce (1, 2, 3, ... over the layer's life).
    pub nonce: U256,
    /// The L2 account that sent it.
    pub sender: Address,
    /// The L1 account or contract to call.
    pub target: Address,
    /// Wei to send with the call (withdrawn from the layer).
    pub value: U256,
    /// Calldata for the target (empty for an ETH withdrawal).
    pub data: Bytes,
    /// keccak256(abi.encode(nonce, sender, target, value, data)), as the event carries it.
    pub hash: B256,
}

impl SentMessage {
    /// Decodes a log if it is a `MessageSent` of the system contract.
    pub fn from_log(log: &alloy::primitives::Log) -> Option<Self> {
        if log.address != L2_MESSAGE_PASSER {
            return None;
        }
        let event = MessageSent::decode_log(log).ok()?.data;
        Some(Self {
            nonce: event.nonce,
            sender: event.sender,
            target: event.target,
            value: event.value,
            data: event.data.clone(),
            hash: event.messageHash,
        })
    }
}

/// What a block contributes to settlement, stored next to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BlockSettlement {
    /// The L1 block its deposits were read up to.
    pub l1_origin: L1Origin,
    /// Highest deposit nonce credited up to and including this block.
    pub last_deposit_nonce: u64,
    /// The running hash of every deposit credited up to and including this block
    /// ([`next_deposits_hash`]): the L1 contract's `depositsHash(last_deposit_nonce)` when L2
    /// credited exactly what was deposited, which each batch must show.
    pub deposits_hash: B256,
    /// Deposits credited in this block.
    pub deposits: Vec<Deposit>,
    /// Messages sent in this block, in order.
    pub messages: Vec<SentMessage>,
    /// The L2 block that ended the layer, if it ended at or before this block (0: live).
    pub ended_at: u64,
    /// Highest membership-change nonce applied up to and including this block.
    pub last_membership_nonce: u64,
    /// The sequencer-set change this block carries, if any.
    pub membership: Vec<crate::MembershipChange>,
}

impl BlockSettlement {
    /// RLP encoding, as stored.
    pub fn encode(&self) -> Vec<u8> {
        alloy::rlp::encode(self)
    }

    /// Decodes a stored value.
    pub fn decode(mut bytes: &[u8]) -> Result<Self, alloy::rlp::Error> {
        <Self as alloy::rlp::Decodable>::decode(&mut bytes)
    }
}

/// The running deposits hash after `deposit`: `keccak256(abi.encode(prev, from, to, amount))`,
/// as `FlashLayer.deposit` computes it on L1 (zero before the first deposit).
pub fn next_deposits_hash(prev: B256, deposit: &Deposit) -> B256 {
    use alloy::sol_types::SolValue;
    alloy::primitives::keccak256((prev, deposit.from, deposit.to, deposit.amount).abi_encode())
}
