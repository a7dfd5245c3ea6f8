//! The few JSON-RPC calls the load generator makes, over jsonrpsee's HTTP client. Plain
//! `eth_*` methods only, so any Ethereum endpoint (a flashlayer node, anvil, geth) serves it.

use alloy::primitives::{Address, B256, Bytes, U64, U256};
use eyre::{Context, bail, eyre};
use jsonrpsee::{
    core::{client::ClientT, params::BatchRequestBuilder},
    http_client::{HttpClient, HttpClientBuilder},
    rpc_params,
};
use serde::Deserialize;
use std::time::Duration;

/// Most calls per JSON-RPC batch in the set-up queries.
const QUERY_BATCH: usize = 500;

/// One JSON-RPC endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// As given on the command line.
    pub(crate) url: String,
    client: HttpClient,
}

/// What the load generator reads of a block.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockInfo {
    pub(crate) number: U64,
    pub(crate) gas_used: U64,
    pub(crate) gas_limit: U64,
    #[serde(default)]
    pub(crate) base_fee_per_gas: Option<U64>,
    /// Transaction hashes (the block is asked for without full transactions).
    pub(crate) transactions: Vec<B256>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptInfo {
    status: Option<U64>,
    contract_address: Option<Address>,
}

/// A mined transaction's outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mined {
    pub(crate) success: bool,
    pub(crate) contract_address: Option<Address>,
}

impl Endpoint {
    /// An endpoint at `url` whose calls give up after `timeout`.
    pub(crate) fn new(url: &str, timeout: Duration) -> eyre::Result<Self> {
        let client = HttpClientBuilder::default()
            .max_request_size(64 * 1024 * 1024)
            .max_response_size(256 * 1024 * 1024)
            .request_timeout(timeout)
            .build(url)
            .wrap_err_with(|| format!("RPC URL {url:?}"))?;
        Ok(Self { url: url.to_owned(), client })
    }

    /// The WebSocket URL of the same server (flashlayer nodes, anvil and geth serve both on one
    /// port).
    pub(crate) fn ws_url(&self) -> String {
        if let Some(rest) = self.url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.url.clone()
        }
    }

    pub(crate) async fn chain_id(&self) -> eyre::Result<u64> {
        let id: U64 = self
            .client
            .request("eth_chainId", rpc_params![])
            .await
            .wrap_err_with(|| format!("eth_chainId at {}", self.url))?;
        Ok(id.to())
    }

    pub(crate) async fn block_number(&self) -> eyre::Result<u64> {
        let n: U64 = self.client.request("eth_blockNumber", rpc_params![]).await?;
        Ok(n.to())
    }

    pub(crate) async fn latest_block(&self) -> eyre::Result<BlockInfo> {
        self.client
            .request::<Option<BlockInfo>, _>("eth_getBlockByNumber", rpc_params!["latest", false])
            .await?
            .ok_or_else(|| eyre!("{} has no latest block", self.url))
    }

    pub(crate) async fn block(&self, number: u64) -> eyre::Result<Option<BlockInfo>> {
        Ok(self.client.request("eth_getBlockByNumber", rpc_params![U64::from(number), false]).await?)
    }

    /// `eth_getTransactionCount` of each address at `tag`, batched.
    pub(crate) async fn nonces(&self, addresses: &[Address], tag: &str) -> eyre::Result<Vec<u64>> {
        let mut out = Vec::with_capacity(addresses.len());
        for chunk in addresses.chunks(QUERY_BATCH) {
            let mut batch = BatchRequestBuilder::new();
            for address in chunk {
                batch.insert("eth_getTransactionCount", rpc_params![address, tag])?;
            }
            for entry in self.client.batch_request::<U64>(batch).await? {
                out.push(entry.map_err(|e| eyre!("eth_getTransactionCount: {}", e.message()))?.to());
            }
        }
        Ok(out)
    }

    /// `eth_getBalance` of each address at `latest`, batched.
    pub(crate) async fn balances(&self, addresses: &[Address]) -> eyre::Result<Vec<U256>> {
        let mut out = Vec::with_capacity(addresses.len());
        for chunk in addresses.chunks(QUERY_BATCH) {
            let mut batch = BatchRequestBuilder::new();
            for address in chunk {
                batch.insert("eth_getBalance", rpc_params![address, "latest"])?;
            }
            for entry in self.client.batch_request::<U256>(batch).await? {
                out.push(entry.map_err(|e| eyre!("eth_getBalance: {}", e.message()))?);
            }
        }
        Ok(out)
    }

    /// Sends raw transactions as one JSON-RPC batch; one result per transaction, the error
    /// being the node's message.
    pub(crate) async fn send_raw_batch(&self, raws: &[&str]) -> eyre::Result<Vec<Result<B256, String>>> {
        let mut batch = BatchRequestBuilder::new();
        for raw in raws {
            batch.insert("eth_sendRawTransaction", rpc_params![raw])?;
        }
        let response = self.client.batch_request::<B256>(batch).await?;
        Ok(response.into_iter().map(|entry| entry.map_err(|e| e.message().to_owned())).collect())
    }

    pub(crate) async fn send_raw(&self, raw: &str) -> eyre::Result<B256> {
        match self.send_raw_batch(&[raw]).await?.pop() {
            Some(Ok(hash)) => Ok(hash),
            Some(Err(message)) => bail!("{} refused a transaction: {message}", self.url),
            None => bail!("{} answered an empty batch", self.url),
        }
    }

    pub(crate) async fn estimate_gas(&self, from: Address, to: Address, data: &Bytes) -> eyre::Result<u64> {
        let call = serde_json::json!({ "from": from, "to": to, "data": data });
        let gas: U64 = self
            .client
            .request("eth_estimateGas", rpc_params![call])
            .await
            .wrap_err_with(|| format!("eth_estimateGas at {}", self.url))?;
        Ok(gas.to())
    }

    pub(crate) async fn receipt(&self, hash: B256) -> eyre::Result<Option<Mined>> {
        let receipt: Option<ReceiptInfo> =
            self.client.request("eth_getTransactionReceipt", rpc_params![hash]).await?;
        Ok(receipt.map(|r| Mined {
            success: r.status.is_none_or(|s| s.to::<u64>() == 1),
            contract_address: r.contract_address,
        }))
    }
}
