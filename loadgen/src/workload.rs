//! What the load generator sends: honest workloads (ETH transfers, ERC-20 transfers, NFT mints,
//! a mix) and, for load testers who ask for it, adversarial transactions a node must refuse.
//! Everything is signed here, ahead of the run.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, crypto::secp256k1::sign_message},
    eips::eip2718::Encodable2718,
    primitives::{Address, B256, Bytes, Signature, TxKind, U256},
    sol_types::SolCall,
};
use serde::Serialize;

mod artifacts {
    #![allow(missing_docs, unreachable_pub, clippy::all)]
    alloy::sol!(LoadToken, "../contracts/artifacts/LoadToken.json");
    alloy::sol!(LoadNft, "../contracts/artifacts/LoadNft.json");
}
pub(crate) use artifacts::{LoadNft, LoadToken};

/// Which transactions a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// ETH transfers between the sender accounts (21,000 gas each).
    Eth,
    /// ERC-20 `transfer`s of a token the run deploys.
    Erc20,
    /// ERC-721 `mint`s of a collection the run deploys (each mint creates state).
    Nft,
    /// 6 ETH transfers, 3 ERC-20 transfers and 1 NFT mint in every 10.
    Mix,
}

impl std::str::FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().find(|(_, name, _)| name.eq_ignore_ascii_case(s)).map(|(w, ..)| *w).ok_or_else(
            || {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, name, _)| *name).collect();
                format!("unknown workload {s:?}: one of {}", names.join(", "))
            },
        )
    }
}

/// One honest transaction's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Eth,
    Erc20,
    Nft,
}

impl Workload {
    /// Every workload with its name (as [`FromStr`](std::str::FromStr) takes it) and what it
    /// sends.
    pub const ALL: [(Self, &'static str, &'static str); 4] = [
        (Self::Eth, "eth", "ETH transfers between the sender accounts (21,000 gas each)"),
        (Self::Erc20, "erc20", "ERC-20 `transfer`s of a token the run deploys"),
        (Self::Nft, "nft", "ERC-721 `mint`s of a collection the run deploys (each mint creates state)"),
        (Self::Mix, "mix", "6 ETH transfers, 3 ERC-20 transfers and 1 NFT mint in every 10"),
    ];

    /// Kind of the `k`-th honest transaction of a run.
    pub(crate) fn kind_at(self, k: u64) -> Kind {
        match self {
            Self::Eth => Kind::Eth,
            Self::Erc20 => Kind::Erc20,
            Self::Nft => Kind::Nft,
            Self::Mix => match k % 10 {
                0..=5 => Kind::Eth,
                6..=8 => Kind::Erc20,
                _ => Kind::Nft,
            },
        }
    }

    pub(crate) fn uses_token(self) -> bool {
        matches!(self, Self::Erc20 | Self::Mix)
    }

    pub(crate) fn uses_nft(self) -> bool {
        matches!(self, Self::Nft | Self::Mix)
    }
}

/// The kinds of invalid transaction adversarial mode mixes in, in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Adversary {
    /// A signature that recovers to no key (r = 0).
    InvalidSignature,
    /// A nonce a million ahead of the account's: acceptable to a pool's queue, never
    /// executable.
    NonceGap,
    /// Calldata beyond the 128 KiB transaction size limit.
    Oversized,
    /// A fee cap of 1 wei, below any base fee.
    Underpriced,
}

impl Adversary {
    pub(crate) const ALL: [Self; 4] =
        [Self::InvalidSignature, Self::NonceGap, Self::Oversized, Self::Underpriced];

    /// Its name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::InvalidSignature => "invalid_signature",
            Self::NonceGap => "nonce_gap",
            Self::Oversized => "oversized",
            Self::Underpriced => "underpriced",
        }
    }
}

/// A signed transaction ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) hash: B256,
    /// `0x`-hex of the EIP-2718 bytes, encoded once here rather than on every send.
    pub(crate) raw: String,
}

/// What signing needs to know about the chain and the run.
#[derive(Debug, Clone)]
pub(crate) struct TxParams {
    pub(crate) chain_id: u64,
    pub(crate) max_fee_per_gas: u128,
    pub(crate) max_priority_fee_per_gas: u128,
    pub(crate) token: Option<Address>,
    pub(crate) nft: Option<Address>,
    pub(crate) erc20_gas: u64,
    pub(crate) nft_gas: u64,
}

impl TxParams {
    /// Gas limit of a transaction of `kind`.
    pub(crate) fn gas_of(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Eth => 21_000,
            Kind::Erc20 => self.erc20_gas,
            Kind::Nft => self.nft_gas,
        }
    }

    fn base(&self, nonce: u64, gas_limit: u64, to: TxKind) -> TxEip1559 {
        TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: self.max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas,
            to,
            ..Default::default()
        }
    }

    /// An honest transaction of `kind` from `secret`'s account to `recipient`.
    pub(crate) fn honest(&self, kind: Kind, secret: &B256, nonce: u64, recipient: Address) -> Signed {
        let mut tx;
        match kind {
            Kind::Eth => {
                tx = self.base(nonce, 21_000, TxKind::Call(recipient));
                tx.value = U256::from(1);
            }
            Kind::Erc20 => {
                let token = self.token.expect("erc20 workload deploys a token");
                tx = self.base(nonce, self.erc20_gas, TxKind::Call(token));
                tx.input =
                    LoadToken::transferCall { to: recipient, value: U256::from(1) }.abi_encode().into();
            }
            Kind::Nft => {
                let nft = self.nft.expect("nft workload deploys a collection");
                tx = self.base(nonce, self.nft_gas, TxKind::Call(nft));
                tx.input = LoadNft::mintCall {}.abi_encode().into();
            }
        }
        sign(secret, tx)
    }

    /// An invalid transaction of kind `adversary` from `secret`'s account, whose next nonce is
    /// `nonce`; `seq` makes each one distinct.
    pub(crate) fn adversarial(&self, adversary: Adversary, secret: &B256, nonce: u64, seq: u64) -> Signed {
        let to = TxKind::Call(Address::with_last_byte(0xad));
        match adversary {
            Adversary::InvalidSignature => {
                let mut tx = self.base(nonce, 21_000, to);
                tx.value = U256::from(seq + 1);
                let good = sign_message(*secret, tx.signature_hash()).expect("valid key");
                encode(tx.into_signed(Signature::new(U256::ZERO, good.s(), good.v())))
            }
            Adversary::NonceGap => {
                let tx = self.base(nonce + 1_000_000 + seq, 21_000, to);
                sign(secret, tx)
            }
            Adversary::Oversized => {
                let data = vec![0xffu8; 129 * 1024];
                // Enough gas for the calldata, so size is the only thing wrong with it.
                let gas = 21_000 + 16 * data.len() as u64;
                let mut tx = self.base(nonce, gas, to);
                tx.input = Bytes::from(data);
                sign(secret, tx)
            }
            Adversary::Underpriced => {
                let mut tx = self.base(nonce, 21_000, to);
                tx.max_fee_per_gas = 1;
                tx.max_priority_fee_per_gas = 0;
                tx.value = U256::from(seq + 1);
                sign(secret, tx)
            }
        }
    }
}

/// Signs with libsecp256k1 (alloy's `secp256k1` backend: several times faster than k256).
pub(crate) fn sign(secret: &B256, tx: TxEip1559) -> Signed {
    let signature = sign_message(*secret, tx.signature_hash()).expect("valid key");
    encode(tx.into_signed(signature))
}

fn encode(signed: alloy::consensus::Signed<TxEip1559>) -> Signed {
    let envelope = TxEnvelope::from(signed);
    let hash = *envelope.tx_hash();
    let raw = format!("0x{}", hex::encode(envelope.encoded_2718()));
    Signed { hash, raw }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{consensus::transaction::SignerRecoverable, eips::eip2718::Decodable2718};

    fn params() -> TxParams {
        TxParams {
            chain_id: 13370,
            max_fee_per_gas: 3_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            token: Some(Address::with_last_byte(1)),
            nft: Some(Address::with_last_byte(2)),
            erc20_gas: 60_000,
            nft_gas: 150_000,
        }
    }

    fn decode(signed: &Signed) -> TxEnvelope {
        let bytes = hex::decode(signed.raw.trim_start_matches("0x")).unwrap();
        TxEnvelope::decode_2718(&mut bytes.as_slice()).unwrap()
    }

    #[test]
    fn honest_transactions_recover_to_the_sender() {
        let key = alloy::signers::local::PrivateKeySigner::random();
        let secret = key.to_bytes();
        for kind in [Kind::Eth, Kind::Erc20, Kind::Nft] {
            let signed = params().honest(kind, &secret, 7, Address::with_last_byte(9));
            let tx = decode(&signed);
            assert_eq!(*tx.tx_hash(), signed.hash);
            assert_eq!(tx.recover_signer().unwrap(), key.address(), "{kind:?}");
            assert_eq!(alloy::consensus::Transaction::nonce(&tx), 7);
        }
    }

    #[test]
    fn adversarial_transactions_are_what_they_claim() {
        let key = alloy::signers::local::PrivateKeySigner::random();
        let secret = key.to_bytes();
        let p = params();
        let bad = decode(&p.adversarial(Adversary::InvalidSignature, &secret, 0, 0));
        assert!(bad.recover_signer().is_err());
        let gap = decode(&p.adversarial(Adversary::NonceGap, &secret, 5, 3));
        assert_eq!(alloy::consensus::Transaction::nonce(&gap), 1_000_008);
        let big = p.adversarial(Adversary::Oversized, &secret, 0, 0);
        assert!(big.raw.len() / 2 > 128 * 1024);
        let cheap = decode(&p.adversarial(Adversary::Underpriced, &secret, 0, 0));
        assert_eq!(alloy::consensus::Transaction::max_fee_per_gas(&cheap), 1);
    }

    #[test]
    fn mix_is_six_three_one() {
        let kinds: Vec<Kind> = (0..10).map(|k| Workload::Mix.kind_at(k)).collect();
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Eth).count(), 6);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Erc20).count(), 3);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Nft).count(), 1);
    }
}
