//! `flashlayer membership`: changing a live layer's sequencer set through its L1 contract.
//! An operator asks to join from its settlement key, the owner approves, and the owner or the
//! operator announces a departure; the cluster applies each approved change at a batch
//! boundary (see `docs/lifecycle.md`).

use crate::{
    args::{LayerContract, PasswordFile, PrivateKey},
    l1::{simulate_and_send, wallet},
};
use alloy::{
    primitives::{Address, B256, Bytes},
    signers::local::PrivateKeySigner,
};
use clap::Subcommand;
use eyre::Context;
use flashlayer_settlement::bindings::FlashLayer;
use std::path::PathBuf;

/// `flashlayer membership` subcommands.
#[derive(Debug, Subcommand)]
pub enum MembershipCommand {
    /// An operator asks to join, from the settlement key in its keys directory.
    RequestJoin {
        /// The layer's contract and its L1.
        #[command(flatten)]
        layer: LayerContract,
        /// The operator's keys directory.
        #[arg(long)]
        keys: PathBuf,
        /// The keys' password.
        #[command(flatten)]
        password: PasswordFile,
    },
    /// The owner approves a join request.
    Approve {
        /// The layer's contract and its L1.
        #[command(flatten)]
        layer: LayerContract,
        /// The owner's private key (hex).
        #[arg(long, env = "FLASHLAYER_OWNER_KEY", hide_env_values = true)]
        owner_key: String,
        /// The operator's settlement address.
        #[arg(long)]
        operator: Address,
    },
    /// The owner, or the operator itself, announces the operator's departure.
    Leave {
        /// The layer's contract and its L1.
        #[command(flatten)]
        layer: LayerContract,
        /// The paying key.
        #[command(flatten)]
        key: PrivateKey,
        /// The operator's settlement address.
        #[arg(long)]
        operator: Address,
    },
}

impl MembershipCommand {
    /// Runs the subcommand.
    pub fn execute(self) -> eyre::Result<()> {
        let rt = super::runtime()?;
        match self {
            Self::RequestJoin { layer, keys, password } => {
                let keys = password.load_keys(&keys)?;
                rt.block_on(request_join(&layer.l1_rpc, layer.contract, &keys.settlement, &keys.consensus))?;
            }
            Self::Approve { layer, owner_key, operator } => {
                let owner = owner_key.parse().map_err(|e| eyre::eyre!("--owner-key: {e}"))?;
                rt.block_on(approve_join(&layer.l1_rpc, layer.contract, &owner, operator))?;
            }
            Self::Leave { layer, key, operator } => {
                rt.block_on(request_leave(&layer.l1_rpc, layer.contract, &key.signer()?, operator))?;
            }
        }
        Ok(())
    }
}

/// A refused membership call in the operator's words.
fn membership_refusal(e: &FlashLayer::FlashLayerErrors) -> Option<String> {
    use FlashLayer::FlashLayerErrors as E;
    Some(match e {
        E::AlreadyMember(x) => format!("{} is already in the signer set", x.operator),
        E::JoinPending(x) => format!("{} already has a join request pending", x.operator),
        E::JoinApproved(x) => {
            format!("{}'s join is approved and waits for the cluster to apply it", x.operator)
        }
        E::NoJoinRequest(x) => format!("{} has not asked to join (requestJoin)", x.operator),
        E::NotOwner(x) => format!("only the layer's owner may do this, not {}", x.caller),
        E::TooManyPendingChanges(x) => format!(
            "{} membership change(s) wait already, the most this set allows ({}): approve again once the previous change has applied (flashlayer status shows when)",
            x.pending, x.max
        ),
        E::ConsensusKeyInUse(x) => {
            format!(
                "consensus key {} belongs to operator {}; generate a key of your own",
                x.consensusKey, x.owner_
            )
        }
        E::LayerClosing(_) => "the layer is closing or closed".into(),
        E::LayerSettled(_) => "the layer is settled".into(),
        _ => return None,
    })
}

/// An operator asks to join the layer's sequencer set (`FlashLayer.requestJoin`), sent from
/// its settlement key so that the contract knows it holds it, with an ed25519 signature by its
/// consensus key over (layer, operator, key) (`joinProofMessage`) so that the owner can check it
/// holds that one too.
async fn request_join(
    l1_rpc: &str,
    contract: Address,
    settlement: &PrivateKeySigner,
    consensus: &ed25519_dalek::SigningKey,
) -> eyre::Result<B256> {
    use ed25519_dalek::Signer;
    let consensus_key = B256::from(consensus.verifying_key().to_bytes());
    let layer = FlashLayer::new(contract, wallet(l1_rpc, settlement)?);
    let message = layer
        .joinProofMessage(settlement.address(), consensus_key)
        .call()
        .await
        .wrap_err("reading the layer contract")?;
    let proof = Bytes::from(consensus.sign(message.as_slice()).to_bytes().to_vec());
    let tx = simulate_and_send(
        layer.requestJoin(consensus_key, proof).clear_decoder(),
        "requestJoin",
        membership_refusal,
    )
    .await?;
    println!(
        "asked to join as {} (consensus key {consensus_key}): L1 tx {tx}; the owner approves with `flashlayer membership approve --operator {}`",
        settlement.address(),
        settlement.address()
    );
    Ok(tx)
}

/// The owner approves an operator's join request (`FlashLayer.approveJoin`).
async fn approve_join(
    l1_rpc: &str,
    contract: Address,
    owner: &PrivateKeySigner,
    operator: Address,
) -> eyre::Result<B256> {
    let layer = FlashLayer::new(contract, wallet(l1_rpc, owner)?);
    // The contract cannot check ed25519: the owner's tool does, before anything is sent.
    let key = layer.pendingJoin(operator).call().await.wrap_err("reading the layer contract")?;
    if !key.is_zero() {
        let proof = layer.pendingJoinProof(operator).call().await?;
        let message = layer.joinProofMessage(operator, key).call().await?;
        check_join_proof(operator, key, &proof, message)?;
    }
    let tx =
        simulate_and_send(layer.approveJoin(operator).clear_decoder(), "approveJoin", membership_refusal)
            .await?;
    println!("approved {operator} to join: L1 tx {tx}; the cluster applies it at its next batch boundary");
    Ok(tx)
}

/// Refuses a join request whose proof does not show that `operator` holds consensus key `key`:
/// an operator naming a key it does not hold would add a validator nobody runs.
fn check_join_proof(operator: Address, key: B256, proof: &[u8], message: B256) -> eyre::Result<()> {
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key.0)
        .map_err(|_| eyre::eyre!("{operator}'s join request names {key}, which is not an ed25519 key"))?;
    let signature = ed25519_dalek::Signature::from_slice(proof)
        .map_err(|_| eyre::eyre!("{operator}'s join request carries a malformed key proof"))?;
    verifying.verify_strict(message.as_slice(), &signature).map_err(|_| {
        eyre::eyre!(
            "{operator}'s join request does not prove it holds consensus key {key} (the proof is not that key's signature over this layer and operator); not approving"
        )
    })
}

/// An operator (or the owner) announces the operator's departure (`FlashLayer.requestLeave`).
async fn request_leave(
    l1_rpc: &str,
    contract: Address,
    key: &PrivateKeySigner,
    operator: Address,
) -> eyre::Result<B256> {
    let layer = FlashLayer::new(contract, wallet(l1_rpc, key)?);
    let tx =
        simulate_and_send(layer.requestLeave(operator).clear_decoder(), "requestLeave", membership_refusal)
            .await?;
    println!("{operator} leaves: L1 tx {tx}; the cluster applies it at its next batch boundary");
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn a_join_proof_verifies_only_for_its_key_and_message() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = B256::from(key.verifying_key().to_bytes());
        let operator = Address::repeat_byte(1);
        let message = B256::repeat_byte(0x42);
        let proof = key.sign(message.as_slice()).to_bytes();
        check_join_proof(operator, public, &proof, message).unwrap();
        // over another layer/operator (another message), by another key, malformed, not a key
        assert!(check_join_proof(operator, public, &proof, B256::repeat_byte(0x43)).is_err());
        let other = SigningKey::from_bytes(&[8; 32]).sign(message.as_slice()).to_bytes();
        assert!(check_join_proof(operator, public, &other, message).is_err());
        assert!(check_join_proof(operator, public, &proof[..63], message).is_err());
        assert!(check_join_proof(operator, public, &[0; 64], message).is_err());
    }
}
