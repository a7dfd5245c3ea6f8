// ethers v6 over HTTP and WebSocketProvider, as a dApp backend uses it: ContractFactory
// deploys, a burst of transfers sent at once through a NonceManager and each wait()ed,
// contract events and new blocks over WebSocket, and revert reasons from staticCall.
'use strict';
const { ethers } = require('ethers');
const { config, artifact, check, step, within, run } = require('./common.cjs');

run(async () => {
  const provider = new ethers.JsonRpcProvider(config.http, undefined, { polling: true, pollingInterval: 250 });
  const network = await provider.getNetwork();
  const signer = new ethers.NonceManager(new ethers.Wallet(config.key, provider));
  const address = await signer.getAddress();
  step(`chain ${network.chainId}, ${address} holds ${await provider.getBalance(address)} wei`);

  const token = artifact('TestToken');
  const supply = ethers.parseEther('1000000');
  const deployed = await new ethers.ContractFactory(token.abi, token.bytecode, signer).deploy('Flash', 'FL', supply);
  await deployed.waitForDeployment();
  const tokenAddress = await deployed.getAddress();
  const tally = artifact('Tally');
  const tallyContract = await new ethers.ContractFactory(tally.abi, tally.bytecode, signer).deploy();
  await tallyContract.waitForDeployment();
  step(`ContractFactory.deploy + waitForDeployment: token ${tokenAddress}, Tally ${await tallyContract.getAddress()}`);

  // A burst: ten transfers sent without waiting, the NonceManager numbering them.
  const recipients = Array.from({ length: 10 }, () => ethers.Wallet.createRandom().address);
  const sent = await Promise.all(recipients.map((to, i) => deployed.transfer(to, BigInt(i + 1))));
  const nonces = sent.map((tx) => tx.nonce);
  check(new Set(nonces).size === nonces.length, `distinct nonces ${nonces}`);
  const receipts = await Promise.all(sent.map((tx) => tx.wait()));
  check(receipts.every((r) => r.status === 1), 'every transfer of the burst succeeds');
  for (const [i, to] of recipients.entries()) {
    check((await deployed.balanceOf(to)) === BigInt(i + 1), `balance of recipient ${i}`);
  }
  step(`NonceManager burst: ${sent.length} transfers, nonces ${Math.min(...nonces)}..${Math.max(...nonces)}, each wait() succeeded`);

  // WebSocketProvider: new blocks and the token's Transfer events.
  const ws = new ethers.WebSocketProvider(config.ws);
  try {
    const wsToken = new ethers.Contract(tokenAddress, token.abi, ws);
    const recipient = ethers.Wallet.createRandom().address;
    const heard = await within(60_000, 'the Transfer event and a block over WebSocket', async (resolve) => {
      let event;
      let block;
      const done = () => event && block !== undefined && resolve({ event, block });
      await ws.on('block', (n) => {
        block = n;
        done();
      });
      await wsToken.on('Transfer', (from, to, value, payload) => {
        if (to !== recipient) return;
        event = { from, to, value, hash: payload.log.transactionHash };
        done();
      });
      // The subscriptions are in place once eth_subscribe answered: send the transfer.
      await new Promise((r) => setTimeout(r, 500));
      const tx = await deployed.transfer(recipient, 777n);
      await tx.wait();
    });
    check(heard.event.from === address && heard.event.to === recipient && heard.event.value === 777n, 'Transfer args');
    check(typeof heard.block === 'number' && heard.block > 0, `block ${heard.block}`);
    step(`WebSocketProvider: Transfer event (tx ${heard.event.hash.slice(0, 10)}...) and block ${heard.block}`);
  } finally {
    await ws.destroy();
  }

  // Revert reasons: a reason string and an ERC-20 custom error, decoded from staticCall.
  try {
    await tallyContract.count.staticCall(0n);
    check(false, 'count(0) reverts');
  } catch (e) {
    check(e.code === 'CALL_EXCEPTION', `CALL_EXCEPTION, got ${e.code}: ${e.message}`);
    check(e.reason === 'Tally: nothing to count', `reason ${e.reason}`);
  }
  try {
    await deployed.transfer.staticCall(recipients[0], supply * 2n);
    check(false, 'transferring more than the supply reverts');
  } catch (e) {
    check(e.code === 'CALL_EXCEPTION', `CALL_EXCEPTION, got ${e.code}`);
    check(e.revert && e.revert.name === 'ERC20InsufficientBalance', `custom error ${e.revert && e.revert.name}`);
  }
  const gas = await tallyContract.count.estimateGas(3n);
  const counted = await (await tallyContract.count(3n, { gasLimit: gas })).wait();
  check(counted.status === 1 && (await tallyContract.total()) === 3n, 'count(3) with the estimated gas');
  step(`revert reasons: "Tally: nothing to count", ERC20InsufficientBalance; estimateGas ${gas} suffices`);
  provider.destroy();
});
