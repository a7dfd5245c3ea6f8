//! L2->L1 messages and the messages tree a batch commits to in `messagesRoot`.
//!
//! The rules are `contracts/src/MessageTree.sol`'s, bit for bit: a relayer's proof built here
//! must pass the contract's OpenZeppelin `MerkleProof.verify` against the root the cluster
//! signed.
//!
//! - `messageHash = keccak256(abi.encode(nonce, sender, target, value, data))` ([`L2Message::hash`]);
//! - `leaf = keccak256(messageHash)` ([`L2Message::leaf`]);
//! - each level pairs neighbours left to right with `keccak256(min(a, b) ++ max(a, b))`, an odd
//!   last node is carried up unchanged; one leaf is its own root, no leaf gives
//!   [`EMPTY_MESSAGES_ROOT`] ([`messages_root`]);
//! - a proof lists the siblings bottom up, skipping carried-up levels ([`proof`], [`verify`]).

use crate::{Error, Result, bindings::L2MessagePasser::MessageSent};
use alloy::{
    primitives::{Address, B256, Bytes, Log, U256, b256, keccak256},
    sol_types::{SolEvent, SolValue},
};

/// The `messagesRoot` of a batch without messages: `keccak256("")`.
pub const EMPTY_MESSAGES_ROOT: B256 =
    b256!("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");

/// An L2->L1 message, as emitted by the L2MessagePasser's `MessageSent` and relayed by
/// FlashLayer's `relayMessage`. An ETH withdrawal has empty `data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct L2Message {
    /// Global message nonce (1, 2, ... in L2 order).
    pub nonce: U256,
    /// The L2 account that sent it (`l2Sender()` during the relay).
    pub sender: Address,
    /// The L1 address FlashLayer calls.
    pub target: Address,
    /// Wei FlashLayer sends with the call (burned on L2).
    pub value: U256,
    /// Calldata of the L1 call.
    pub data: Bytes,
}

impl L2Message {
    /// The message hash, `keccak256(abi.encode(nonce, sender, target, value, data))`: the
    /// contract's replay-protection key and the event's `messageHash`.
    pub fn hash(&self) -> B256 {
        // `abi_encode_params` is Solidity's `abi.encode(a, b, ...)`; `abi_encode` of the tuple
        // would add a leading offset, encoding it as one dynamic value.
        let fields = (self.nonce, self.sender, self.target, self.value, &self.data);
        keccak256(fields.abi_encode_params())
    }

    /// The message's leaf in the messages tree, `keccak256(abi.encodePacked(hash))`.
    pub fn leaf(&self) -> B256 {
        keccak256(self.hash())
    }

    /// Decodes a `MessageSent` log of the L2MessagePasser (the caller filters on the
    /// passer's address) and checks the hash it states against its fields.
    pub fn from_log(log: &Log) -> Result<Self> {
        let event = MessageSent::decode_log(log)?.data;
        let message = Self {
            nonce: event.nonce,
            sender: event.sender,
            target: event.target,
            value: event.value,
            data: event.data,
        };
        let computed = message.hash();
        if computed != event.messageHash {
            return Err(Error::MessageHashMismatch { stated: event.messageHash, computed });
        }
        Ok(message)
    }
}

/// OpenZeppelin's `Hashes.commutativeKeccak256`: the hash of the sorted pair.
fn node(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// The next level up: pairs `(0,1), (2,3), ...`, an odd last node carried up unchanged.
fn parent_level(level: &[B256]) -> Vec<B256> {
    level
        .chunks(2)
        .map(|pair| match *pair {
            [a, b] => node(a, b),
            [a] => a,
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// The root over `leaves` (already [`L2Message::leaf`]-hashed, in nonce order).
pub fn messages_root(leaves: &[B256]) -> B256 {
    if leaves.is_empty() {
        return EMPTY_MESSAGES_ROOT;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = parent_level(&level);
    }
    level[0]
}

/// The proof of `leaves[index]` against [`messages_root`]`(leaves)`, for `relayMessage`.
pub fn proof(leaves: &[B256], mut index: usize) -> Result<Vec<B256>> {
    if index >= leaves.len() {
        return Err(Error::LeafIndexOutOfRange { index, leaves: leaves.len() });
    }
    let mut path = Vec::new();
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        // No sibling when the node is the odd last one: it is carried up and the level skipped.
        if let Some(&sibling) = level.get(index ^ 1) {
            path.push(sibling);
        }
        level = parent_level(&level);
        index /= 2;
    }
    Ok(path)
}

/// OpenZeppelin `MerkleProof.verify`: whether folding `proof` into `leaf` yields `root`.
pub fn verify(proof: &[B256], root: B256, leaf: B256) -> bool {
    proof.iter().fold(leaf, |acc, &sibling| node(acc, sibling)) == root
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{LogData, address, bytes};

    fn message(nonce: u64) -> L2Message {
        L2Message {
            nonce: U256::from(nonce),
            sender: Address::repeat_byte(0x11),
            target: Address::repeat_byte(0x22),
            value: U256::from(10).pow(U256::from(18)),
            data: bytes!("deadbeef"),
        }
    }

    fn leaves(n: u64) -> Vec<B256> {
        (1..=n).map(|i| message(i).leaf()).collect()
    }

    #[test]
    fn hash_and_leaf_known_answer() {
        // cast keccak $(cast abi-encode "f(uint256,address,address,uint256,bytes)" 1 0x11..11 0x22..22 1e18 0xdeadbeef)
        let m = message(1);
        assert_eq!(m.hash(), b256!("df3c8aebcd60d2f9eaf46a43d9b82105a396f32c16a0fd9fc5afe989260b850a"));
        assert_eq!(m.leaf(), b256!("f23a711ac8de08fef53981c986d47f2d2377c6ca2b3a3915ad1d1ec8f71fdb84"));
        assert_eq!(EMPTY_MESSAGES_ROOT, keccak256([]));
    }

    #[test]
    fn small_trees_have_the_documented_shape() {
        assert_eq!(messages_root(&[]), EMPTY_MESSAGES_ROOT);
        let l = leaves(5);
        assert_eq!(messages_root(&l[..1]), l[0]);
        assert_eq!(messages_root(&l[..2]), node(l[0], l[1]));
        assert_eq!(messages_root(&l[..3]), node(node(l[0], l[1]), l[2]));
        let left = node(node(l[0], l[1]), node(l[2], l[3]));
        assert_eq!(messages_root(&l), node(left, l[4]));
        // the README's examples
        assert_eq!(proof(&l, 4).unwrap(), vec![left]);
        assert_eq!(proof(&l, 2).unwrap(), vec![l[3], node(l[0], l[1]), l[4]]);
        assert_eq!(proof(&l[..1], 0).unwrap(), Vec::<B256>::new());
        assert!(matches!(proof(&l, 5), Err(Error::LeafIndexOutOfRange { index: 5, leaves: 5 })));
        assert!(proof(&[], 0).is_err());
    }

    #[test]
    fn every_proof_verifies_and_wrong_ones_fail() {
        for n in [1u64, 2, 3, 5, 8] {
            let l = leaves(n);
            let root = messages_root(&l);
            let outsider = message(100).leaf();
            for (i, &leaf) in l.iter().enumerate() {
                let p = proof(&l, i).unwrap();
                assert!(p.len() <= (n as f64).log2().ceil() as usize);
                assert!(verify(&p, root, leaf), "n = {n}, i = {i}");
                assert!(!verify(&p, root, outsider), "n = {n}, i = {i}: wrong leaf");
                if n > 1 {
                    // a neighbour's proof, or a tampered one
                    let j = (i + 1) % l.len();
                    let other = proof(&l, j).unwrap();
                    if other != p {
                        assert!(!verify(&other, root, leaf), "n = {n}, i = {i}: proof of {j}");
                    }
                    let mut tampered = p.clone();
                    tampered[0] = outsider;
                    assert!(!verify(&tampered, root, leaf), "n = {n}, i = {i}: tampered");
                    assert!(!verify(&p[1..], root, leaf), "n = {n}, i = {i}: truncated");
                }
            }
        }
    }

    #[test]
    fn decodes_message_sent() {
        let m = message(7);
        let event = MessageSent {
            nonce: m.nonce,
            sender: m.sender,
            target: m.target,
            value: m.value,
            data: m.data.clone(),
            messageHash: m.hash(),
        };
        let passer = address!("4200000000000000000000000000000000000016");
        let log = Log { address: passer, data: event.encode_log_data() };
        assert_eq!(L2Message::from_log(&log).unwrap(), m);

        let forged = MessageSent { messageHash: B256::repeat_byte(1), ..event };
        let log = Log { address: passer, data: forged.encode_log_data() };
        assert!(matches!(L2Message::from_log(&log), Err(Error::MessageHashMismatch { .. })));

        let other = Log { address: passer, data: LogData::new_unchecked(vec![B256::ZERO], Bytes::new()) };
        assert!(matches!(L2Message::from_log(&other), Err(Error::Abi(_))));
    }
}
