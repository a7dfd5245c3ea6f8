//! The consensus payload: what HotStuff orders and every node executes.

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    rlp::{Decodable, RlpDecodable, RlpEncodable},
};

/// The L1 block a payload's deposits were read up to (the leader's confirmed L1 view).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct L1Origin {
    /// L1 block number (0 on a layer without an L1).
    pub number: u64,
    /// Its hash.
    pub hash: B256,
}

/// ETH deposited on L1 (`FlashLayer.deposit(to)`), credited on L2 before the block's
/// transactions. It cannot fail: no gas, no code runs, the balance just grows.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Deposit {
    /// The contract's deposit nonce (1, 2, 3, ... without gaps across blocks).
    pub nonce: u64,
    /// Who deposited on L1.
    pub from: Address,
    /// Who is credited on L2.
    pub to: Address,
    /// Wei.
    pub amount: U256,
}

/// An operator joining or leaving the sequencer set, as the owner approved it on L1
/// (`FlashLayer.MembershipChanged`). The block carrying it changes the HotStuff validator set
/// (from its commit on) and closes a settlement batch; the contract's signer set follows through
/// `updateSigners`, signed by the outgoing set.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct MembershipChange {
    /// The contract's membership nonce (1, 2, 3, ... without gaps across blocks).
    pub nonce: u64,
    /// The operator's settlement address.
    pub operator: Address,
    /// Its ed25519 consensus key.
    pub consensus_key: B256,
    /// Joining (`true`) or leaving.
    pub joining: bool,
}

/// What one block orders: the timestamp chosen by the leader, the L1 origin with the deposits
/// derived from it, and raw EIP-2718 transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Payload {
    /// Block timestamp, Unix seconds.
    pub timestamp: u64,
    /// Transactions in the order they execute.
    pub transactions: Vec<Bytes>,
    /// L1 block the deposits come from (never moves backwards).
    pub l1_origin: L1Origin,
    /// Deposits credited at the start of the block, in nonce order.
    pub deposits: Vec<Deposit>,
    /// This block ends the layer (its deadline passed, its end block was reached or its owner
    /// closed it on L1): it and every block after it carry no transactions and no deposits, and
    /// the final settlement batch ends with it.
    pub end: bool,
    /// A change of the sequencer set (at most one per block), from the L1 origin's view.
    pub membership: Vec<MembershipChange>,
}

impl MembershipChange {
    /// Whether the consensus key is a valid ed25519 public key. The contract cannot check it;
    /// a change with an invalid key is carried (its nonce is used up) but changes nothing, on
    /// every node alike.
    pub fn has_valid_key(&self) -> bool {
        self.validator_key().is_some()
    }

    /// The consensus key as an ed25519 public key; `None` when it is not one (see
    /// [`Self::has_valid_key`]).
    pub fn validator_key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.consensus_key.0).ok()
    }
}

impl Payload {
    /// RLP encoding (what consensus stores as block data).
    pub fn encode(&self) -> Vec<u8> {
        alloy::rlp::encode(self)
    }

    /// Decodes a payload; the whole input must be consumed.
    pub fn decode(mut bytes: &[u8]) -> Result<Self, alloy::rlp::Error> {
        let payload = <Self as Decodable>::decode(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(alloy::rlp::Error::UnexpectedLength);
        }
        Ok(payload)
    }

    /// Hash committed to by the consensus block (keccak of the encoding).
    pub fn hash_encoded(encoded: &[u8]) -> B256 {
        keccak256(encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_trailing_bytes_rejected() {
        let p = Payload {
            timestamp: 7,
            transactions: vec![Bytes::from_static(&[1, 2, 3])],
            l1_origin: L1Origin { number: 9, hash: B256::repeat_byte(9) },
            deposits: vec![Deposit {
                nonce: 1,
                from: Address::repeat_byte(1),
                to: Address::repeat_byte(2),
                amount: U256::from(5),
            }],
            end: true,
            membership: vec![MembershipChange {
                nonce: 1,
                operator: Address::repeat_byte(3),
                consensus_key: B256::repeat_byte(4),
                joining: true,
            }],
        };
        let enc = p.encode();
        assert_eq!(Payload::decode(&enc).unwrap(), p);
        let mut longer = enc.clone();
        longer.push(0);
        assert!(Payload::decode(&longer).is_err());
    }
}
