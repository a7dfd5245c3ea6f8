// viem over HTTP and WebSocket, as a dApp front end uses it: deploy and write with
// waitForTransactionReceipt, watchBlocks and watchContractEvent over a WebSocket
// subscription, and simulateContract's revert reasons (a reason string and an ERC-20
// custom error).
'use strict';
const {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  webSocket,
  parseEther,
  BaseError,
  ContractFunctionRevertedError,
} = require('viem');
const { privateKeyToAccount, generatePrivateKey } = require('viem/accounts');
const { config, artifact, check, step, within, run } = require('./common.cjs');

/** The ContractFunctionRevertedError under a viem error, or fail. */
function reverted(error) {
  check(error instanceof BaseError, `a viem error, got ${error}`);
  const cause = error.walk((e) => e instanceof ContractFunctionRevertedError);
  check(cause instanceof ContractFunctionRevertedError, `a revert, got ${error.shortMessage}`);
  return cause;
}

run(async () => {
  const chainId = await createPublicClient({ transport: http(config.http) }).getChainId();
  const chain = defineChain({
    id: chainId,
    name: 'layer under test',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [config.http], webSocket: [config.ws] } },
  });
  const client = createPublicClient({ chain, transport: http(config.http) });
  const ws = createPublicClient({ chain, transport: webSocket(config.ws) });
  const account = privateKeyToAccount(config.key);
  const wallet = createWalletClient({ account, chain, transport: http(config.http) });
  step(`chain ${chainId}, ${account.address} holds ${await client.getBalance({ address: account.address })} wei`);

  const token = artifact('TestToken');
  const supply = parseEther('1000000');
  const deployHash = await wallet.deployContract({ ...token, args: ['Flash', 'FL', supply] });
  const deployed = await client.waitForTransactionReceipt({ hash: deployHash });
  check(deployed.status === 'success' && deployed.contractAddress, 'the token deploys');
  const tokenAddress = deployed.contractAddress;
  const tally = artifact('Tally');
  const tallyDeployed = await client.waitForTransactionReceipt({ hash: await wallet.deployContract(tally) });
  const tallyAddress = tallyDeployed.contractAddress;
  check(tallyDeployed.status === 'success' && tallyAddress, 'Tally deploys');
  step(`deployContract + waitForTransactionReceipt: token ${tokenAddress}, Tally ${tallyAddress}`);

  // watchBlocks over a WebSocket subscription: two new blocks, while transfers make them. viem
  // fetches each announced block with its own getBlock, so two blocks can reach onBlock in either
  // order (seen against anvil): the check is two distinct blocks, both above the height before.
  const before = await client.getBlockNumber();
  const blocks = await within(60_000, 'two blocks from watchBlocks', async (resolve, reject) => {
    const seen = [];
    const unwatch = ws.watchBlocks({
      onBlock: (block) => {
        if (seen.length < 2) seen.push(block.number);
        if (seen.length === 2) {
          unwatch();
          resolve(seen);
        }
      },
      onError: reject,
    });
    for (let i = 0; i < 4; i++) {
      const hash = await wallet.sendTransaction({ to: privateKeyToAccount(generatePrivateKey()).address, value: 1n });
      await client.waitForTransactionReceipt({ hash });
    }
  });
  check(blocks[0] !== blocks[1] && blocks.every((n) => n > before), `two new blocks above ${before}: ${blocks}`);
  step(`watchBlocks (WebSocket): blocks ${blocks.join(', ')}`);

  // watchContractEvent over a WebSocket subscription: the Transfer a writeContract makes.
  const recipient = privateKeyToAccount(generatePrivateKey()).address;
  const event = await within(60_000, 'the Transfer from watchContractEvent', async (resolve, reject) => {
    const unwatch = ws.watchContractEvent({
      address: tokenAddress,
      abi: token.abi,
      eventName: 'Transfer',
      args: { to: recipient },
      onLogs: (logs) => {
        unwatch();
        resolve(logs[0]);
      },
      onError: reject,
    });
    // Give the subscription a moment to be in place before the transfer it must see.
    await new Promise((r) => setTimeout(r, 500));
    const hash = await wallet.writeContract({
      address: tokenAddress,
      abi: token.abi,
      functionName: 'transfer',
      args: [recipient, 1234n],
    });
    const receipt = await client.waitForTransactionReceipt({ hash });
    check(receipt.status === 'success', 'the transfer succeeds');
  });
  check(event.args.from === account.address, `Transfer.from ${event.args.from}`);
  check(event.args.to === recipient && event.args.value === 1234n, `Transfer args ${JSON.stringify(event.args, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  const balance = await client.readContract({ address: tokenAddress, abi: token.abi, functionName: 'balanceOf', args: [recipient] });
  check(balance === 1234n, `balanceOf ${balance}`);
  step('watchContractEvent (WebSocket): Transfer with its indexed and data args; readContract agrees');

  // simulateContract: a reason string, a custom error, and a call that succeeds then is sent.
  try {
    await client.simulateContract({ account, address: tallyAddress, abi: tally.abi, functionName: 'count', args: [0n] });
    check(false, 'count(0) reverts');
  } catch (e) {
    const revert = reverted(e);
    check(revert.reason === 'Tally: nothing to count', `reason ${revert.reason}`);
  }
  try {
    await client.simulateContract({ account, address: tokenAddress, abi: token.abi, functionName: 'transfer', args: [recipient, supply * 2n] });
    check(false, 'transferring more than the supply reverts');
  } catch (e) {
    const revert = reverted(e);
    check(revert.data && revert.data.errorName === 'ERC20InsufficientBalance', `custom error ${revert.data && revert.data.errorName}`);
  }
  const { request, result } = await client.simulateContract({ account, address: tallyAddress, abi: tally.abi, functionName: 'count', args: [5n] });
  check(result === 5n, `simulated count(5) returns ${result}`);
  const counted = await client.waitForTransactionReceipt({ hash: await wallet.writeContract(request) });
  check(counted.status === 'success', 'count(5) is mined');
  check((await client.readContract({ address: tallyAddress, abi: tally.abi, functionName: 'total' })) === 5n, 'total is 5');
  step('simulateContract: revert reason string, ERC20InsufficientBalance, and a simulated request sent');

  await ws.transport.getRpcClient().then((rpc) => rpc.close());
});
