//! L1 (and L2) transactions for the commands that send them: a wallet provider for a URL and
//! a key, and the simulate-then-send path that turns a layer contract's refusal into words.

use alloy::{
    network::EthereumWallet,
    primitives::B256,
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use eyre::{Context, bail};
use flashlayer_settlement::bindings::FlashLayer;

/// A provider that signs with `key` and sends to the JSON-RPC endpoint at `url`.
pub fn wallet(url: &str, key: &PrivateKeySigner) -> eyre::Result<impl Provider + Clone> {
    let url = url.parse().wrap_err_with(|| format!("RPC URL {url:?}"))?;
    Ok(ProviderBuilder::new().wallet(EthereumWallet::from(key.clone())).connect_http(url))
}

/// Simulates `call` against the latest L1 state, so that a refusal is reported with the
/// contract's reason (in words where `explain` knows them) and nothing is sent; then sends it
/// and waits for a successful receipt. `what` names the call in errors.
pub async fn simulate_and_send<P: Provider>(
    call: alloy::contract::CallBuilder<P, (), alloy::network::Ethereum>,
    what: &str,
    explain: impl Fn(&FlashLayer::FlashLayerErrors) -> Option<String>,
) -> eyre::Result<B256> {
    if let Err(e) = call.call().await {
        match e.as_decoded_interface_error::<FlashLayer::FlashLayerErrors>() {
            Some(refusal) => match explain(&refusal) {
                Some(words) => bail!("{what}: {words}"),
                None => bail!("the layer contract refuses the {what}: {refusal:?}"),
            },
            None => bail!("{what} simulation failed: {e}"),
        }
    }
    let receipt = call.send().await?.get_receipt().await?;
    if !receipt.status() {
        bail!("{what} transaction {} reverted", receipt.transaction_hash);
    }
    Ok(receipt.transaction_hash)
}
