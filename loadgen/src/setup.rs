//! The set-up phase: sender accounts from a mnemonic, funded (and handed tokens) by one faucet
//! key, the workload's contracts deployed, gas limits and fees chosen.

use super::{
    progress,
    rpc::{Endpoint, Mined},
    workload::{LoadNft, LoadToken, Signed, sign},
};
use alloy::{
    consensus::TxEip1559,
    primitives::{Address, B256, Bytes, TxKind, U256},
    signers::local::{MnemonicBuilder, coins_bip39::English},
    sol_types::{SolCall, SolValue},
};
use eyre::{Context, bail, ensure, eyre};
use std::time::{Duration, Instant};

/// Funding and airdrop transactions go out in JSON-RPC batches of this many.
const SEND_BATCH: usize = 200;
/// Recipients per `airdrop` call (about 30,000 gas each: ~6M gas per call).
const AIRDROP_CHUNK: usize = 200;
/// How long set-up transactions may take to be included.
const SETUP_WAIT: Duration = Duration::from_secs(300);
/// Tokens each sender receives (1 token = 10^18 units; each transfer moves 1 unit).
const TOKENS_PER_SENDER: u128 = 1_000_000_000_000_000_000_000_000;

/// An account the run signs for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Account {
    pub(crate) address: Address,
    pub(crate) secret: B256,
}

/// `count` accounts of `mnemonic` from BIP-44 index `first` (m/44'/60'/0'/0/i): the seed is
/// stretched once and each child derived from the parent key.
pub(crate) fn derive(mnemonic: &str, first: u32, count: usize) -> eyre::Result<Vec<Account>> {
    MnemonicBuilder::<English>::default()
        .phrase(mnemonic)
        .index(first)?
        .into_iter()
        .take(count)
        .map(|signer| {
            let signer = signer.wrap_err("deriving a sender key from the mnemonic")?;
            Ok(Account { address: signer.address(), secret: signer.to_bytes() })
        })
        .collect()
}

/// The key that pays for everything, with its nonce tracked here (set-up sends many
/// transactions back to back, so asking the node for the nonce each time would race).
pub(crate) struct Faucet {
    pub(crate) account: Account,
    nonce: u64,
    chain_id: u64,
    max_fee_per_gas: u128,
    max_priority_fee_per_gas: u128,
}

impl Faucet {
    pub(crate) async fn new(
        endpoint: &Endpoint,
        account: Account,
        chain_id: u64,
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: u128,
    ) -> eyre::Result<Self> {
        let nonce = endpoint.nonces(&[account.address], "pending").await?[0];
        Ok(Self { account, nonce, chain_id, max_fee_per_gas, max_priority_fee_per_gas })
    }

    fn sign(&mut self, to: TxKind, value: U256, input: Bytes, gas_limit: u64) -> Signed {
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit,
            max_fee_per_gas: self.max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas,
            to,
            value,
            input,
            ..Default::default()
        };
        self.nonce += 1;
        sign(&self.account.secret, tx)
    }

    /// Deploys `code ++ args` and returns the contract's address once it is mined.
    pub(crate) async fn deploy(
        &mut self,
        endpoint: &Endpoint,
        name: &str,
        init: Vec<u8>,
    ) -> eyre::Result<Address> {
        let tx = self.sign(TxKind::Create, U256::ZERO, init.into(), 5_000_000);
        endpoint.send_raw(&tx.raw).await.wrap_err_with(|| format!("deploying {name}"))?;
        let mined = wait_receipt(endpoint, tx.hash).await.wrap_err_with(|| format!("deploying {name}"))?;
        ensure!(mined.success, "deploying {name} reverted (tx {})", tx.hash);
        mined.contract_address.ok_or_else(|| eyre!("deploying {name}: receipt without a contract address"))
    }

    /// Sends signed set-up transactions and waits (with a progress bar) until the faucet's
    /// nonce shows all of them mined; then checks the last one succeeded.
    async fn send_all(&mut self, endpoint: &Endpoint, what: &str, txs: Vec<Signed>) -> eyre::Result<()> {
        if txs.is_empty() {
            return Ok(());
        }
        let bar = progress::bar(txs.len() as u64, what);
        for chunk in txs.chunks(SEND_BATCH) {
            let raws: Vec<&str> = chunk.iter().map(|tx| tx.raw.as_str()).collect();
            for (tx, result) in chunk.iter().zip(endpoint.send_raw_batch(&raws).await?) {
                if let Err(message) = result {
                    bail!("{what}: {} refused set-up transaction {}: {message}", endpoint.url, tx.hash);
                }
            }
        }
        let first = self.nonce - txs.len() as u64;
        let deadline = Instant::now() + SETUP_WAIT;
        loop {
            let mined = endpoint.nonces(&[self.account.address], "latest").await?[0];
            bar.set_position(mined.saturating_sub(first));
            if mined >= self.nonce {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{what}: only {} of {} transactions mined within {SETUP_WAIT:?}",
                    mined - first,
                    txs.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bar.finish();
        let last = txs.last().expect("not empty");
        let mined = wait_receipt(endpoint, last.hash).await?;
        ensure!(mined.success, "{what}: transaction {} reverted", last.hash);
        Ok(())
    }

    /// Tops every account up to `need` wei.
    pub(crate) async fn fund(
        &mut self,
        endpoint: &Endpoint,
        accounts: &[Address],
        need: U256,
    ) -> eyre::Result<()> {
        let balances = endpoint.balances(accounts).await?;
        let short: Vec<(Address, U256)> = accounts
            .iter()
            .zip(balances)
            .filter(|(_, have)| *have < need)
            .map(|(address, have)| (*address, need - have))
            .collect();
        if short.is_empty() {
            return Ok(());
        }
        let total: U256 = short.iter().map(|(_, amount)| *amount).sum();
        let gas_cost = U256::from(21_000u64 * short.len() as u64) * U256::from(self.max_fee_per_gas);
        let have = endpoint.balances(&[self.account.address]).await?[0];
        if have < total + gas_cost {
            bail!(
                "faucet {} holds {} ETH; funding {} accounts needs {} ETH: fund the faucet, or lower \
                 --senders, --duration or --rate",
                self.account.address,
                format_eth(have),
                short.len(),
                format_eth(total + gas_cost)
            );
        }
        let txs = short
            .iter()
            .map(|(to, amount)| self.sign(TxKind::Call(*to), *amount, Bytes::new(), 21_000))
            .collect();
        self.send_all(endpoint, &format!("funding {} accounts", short.len()), txs).await
    }

    /// Deploys the load token (or takes `existing`, held by the faucet) and airdrops it to the
    /// senders.
    pub(crate) async fn token(
        &mut self,
        endpoint: &Endpoint,
        senders: &[Address],
        existing: Option<Address>,
    ) -> eyre::Result<Address> {
        let token = match existing {
            Some(token) => token,
            None => {
                let supply = U256::from(TOKENS_PER_SENDER) * U256::from(senders.len() as u64 + 1);
                let mut init = LoadToken::BYTECODE.to_vec();
                init.extend(supply.abi_encode());
                self.deploy(endpoint, "LoadToken", init).await?
            }
        };
        let calls: Vec<Bytes> = senders
            .chunks(AIRDROP_CHUNK)
            .map(|chunk| {
                LoadToken::airdropCall { to: chunk.to_vec(), amount: U256::from(TOKENS_PER_SENDER) }
                    .abi_encode()
                    .into()
            })
            .collect();
        let gas = endpoint.estimate_gas(self.account.address, token, &calls[0]).await?;
        let txs = calls
            .into_iter()
            .map(|input| self.sign(TxKind::Call(token), U256::ZERO, input, gas * 5 / 4))
            .collect();
        self.send_all(endpoint, "airdropping tokens", txs).await?;
        Ok(token)
    }

    /// Deploys the load NFT collection.
    pub(crate) async fn nft(&mut self, endpoint: &Endpoint) -> eyre::Result<Address> {
        self.deploy(endpoint, "LoadNft", LoadNft::BYTECODE.to_vec()).await
    }
}

/// Gas limit for a call: the estimate plus a quarter (the first call of an account may cost
/// more than later ones; a limit above use costs nothing).
pub(crate) async fn gas_for(
    endpoint: &Endpoint,
    from: Address,
    to: Address,
    call: impl SolCall,
) -> eyre::Result<u64> {
    let estimate = endpoint.estimate_gas(from, to, &call.abi_encode().into()).await?;
    Ok(estimate * 5 / 4)
}

async fn wait_receipt(endpoint: &Endpoint, hash: B256) -> eyre::Result<Mined> {
    let deadline = Instant::now() + SETUP_WAIT;
    loop {
        if let Some(mined) = endpoint.receipt(hash).await? {
            return Ok(mined);
        }
        if Instant::now() > deadline {
            bail!("transaction {hash} not mined within {SETUP_WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wei as decimal ETH with up to 6 decimals.
pub(crate) fn format_eth(wei: U256) -> String {
    let micro = wei / U256::from(1_000_000_000_000u64);
    let micro: u128 = micro.try_into().unwrap_or(u128::MAX);
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_anvils_accounts() {
        // anvil's first dev account is index 0 of the test mnemonic.
        let accounts = derive(crate::DEV_MNEMONIC, 0, 2).unwrap();
        assert_eq!(
            accounts[0].address,
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse::<Address>().unwrap()
        );
        assert_eq!(
            accounts[1].address,
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".parse::<Address>().unwrap()
        );
    }

    #[test]
    fn formats_eth() {
        assert_eq!(format_eth(U256::from(1_500_000_000_000_000_000u128)), "1.500000");
        assert_eq!(format_eth(U256::from(1u64)), "0.000000");
    }
}
