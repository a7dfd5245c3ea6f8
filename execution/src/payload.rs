//! The consensus payload: what HotStuff orders and every node executes.

use alloy::{
    primitives::{B256, Bytes, keccak256},
    rlp::{Decodable, RlpDecodable, RlpEncodable},
};

/// Ordered raw EIP-2718 transactions plus the block timestamp chosen by the leader.
///
/// Later issues add the L1 origin and its deposits; the RLP list grows at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct Payload {
    /// Block timestamp, Unix seconds.
    pub timestamp: u64,
    /// Transactions in the order they execute.
    pub transactions: Vec<Bytes>,
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
        let p = Payload { timestamp: 7, transactions: vec![Bytes::from_static(&[1, 2, 3])] };
        let enc = p.encode();
        assert_eq!(Payload::decode(&enc).unwrap(), p);
        let mut longer = enc.clone();
        longer.push(0);
        assert!(Payload::decode(&longer).is_err());
    }
}
