//! The L2 side of settlement: the `L2MessagePasser` system contract predeployed in every
//! layer's genesis, the L2->L1 messages it emits, and what each block records for the batches
//! that settle it (its L1 origin, the deposits it credited, the messages it sent).

use crate::{Deposit, L1Origin};
use alloy::{
    primitives::{Address, B256, Bytes, U256, address},
    rlp::{RlpDecodable, RlpEncodable},
    sol,
    sol_types::SolEvent,
};
use std::sync::LazyLock;

/// Where `L2MessagePasser` lives on every layer.
pub const L2_MESSAGE_PASSER: Address = address!("0xf1a5000000000000000000000000000000000001");

sol! {
    /// `L2MessagePasser`'s event (contracts/src/L2MessagePasser.sol).
    event MessageSent(
        uint256 indexed nonce,
        address indexed sender,
        address indexed target,
        uint256 value,
        bytes data,
        bytes32 messageHash
    );
}

/// Runtime bytecode of `L2MessagePasser`, from the checked-in artifact (kept in step with the
/// sources by `scripts/contract-artifacts --check`).
pub static L2_MESSAGE_PASSER_CODE: LazyLock<Bytes> = LazyLock::new(|| {
    let artifact: serde_json::Value =
        serde_json::from_str(include_str!("../../contracts/artifacts/L2MessagePasser.json"))
            .expect("the checked-in L2MessagePasser artifact is JSON");
    artifact["deployedBytecode"]
        .as_str()
        .and_then(|hex| hex.parse().ok())
        .expect("the L2MessagePasser artifact has hex deployedBytecode")
});

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
    /// Deposits credited in this block.
    pub deposits: Vec<Deposit>,
    /// Messages sent in this block, in order.
    pub messages: Vec<SentMessage>,
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
