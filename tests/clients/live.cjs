// The live page in a real browser (Debian's chromium, driven by playwright-core): it loads,
// its charts draw, a transaction sent during the test shows in the explorer with its status and
// call trace, and the page's RPC refuses anything but reads.
//
// With an L1 (FL_L1 set), the settlement parts too: every operator's last vote and batch
// signature, the batches on L1 linked to the explorer (each link's transaction is checked on
// the L1), then the owner closes the layer and the page shows the final batch and a claim
// made with `flashlayer claim`.
//
// Inputs (environment): FL_PAGE (the node's page, http://host:metrics-port/), FL_HTTP (its
// JSON-RPC), FL_KEY (a funded key); FL_SCREENSHOT (optional): where to save a screenshot;
// FL_CHROMIUM (optional): the browser, /usr/bin/chromium by default. With an L1: FL_L1 (its
// JSON-RPC), FL_CONTRACT (the layer's contract), FL_EXPLORER (the --l1-explorer the nodes
// got), FL_OWNER_KEY (the layer owner's L1 key: closes the layer), FL_BIN (flashlayer).
'use strict';
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const { chromium } = require('playwright-core');
const { ethers } = require('ethers');
const { config, check, step, run } = require('./common.cjs');

const CHROMIUM = process.env.FL_CHROMIUM || '/usr/bin/chromium';

// The settlement parts of the page on a layer with an L1 (see the top of the file).
async function settlement(page, wallet) {
  const l1 = new ethers.JsonRpcProvider(process.env.FL_L1);
  const contract = process.env.FL_CONTRACT.toLowerCase();
  const explorer = process.env.FL_EXPLORER;

  // Every operator votes and signs batches: the sequencer set shows each one's last.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#sequencers tr.sequencer')];
    return rows.length === 4 && rows.every((r) => /^block \d+/.test(r.querySelector('.last-vote').textContent)
      && /^batch \d+/.test(r.querySelector('.last-signature').textContent));
  }, null, { timeout: 60_000 });
  const operators = await page.$$eval('#sequencers tr.sequencer', (rows) => rows.map((r) => `${r.querySelector('.last-vote').textContent} / ${r.querySelector('.last-signature').textContent}`));
  step(`sequencer set: last vote / last batch signature of each operator: ${operators.join('; ')}`);

  // Batches on L1, each linked to its L1 transaction, which is the layer's contract accepting it.
  await page.waitForSelector('#batches tr.batch a.l1-link', { timeout: 60_000 });
  const links = await page.$$eval('#batches tr.batch a.l1-link', (as) => as.map((a) => a.href));
  check(links.length >= 1, 'at least one batch is listed');
  for (const href of links.slice(0, 3)) {
    check(href.startsWith(`${explorer}/tx/0x`), `the batch links to the explorer: ${href}`);
    const receipt = await l1.getTransactionReceipt(href.slice(`${explorer}/tx/`.length));
    check(receipt && receipt.status === 1 && receipt.to.toLowerCase() === contract, `L1 transaction ${href} is the contract accepting a batch`);
  }
  // The devnet's challenge window is 0 s: every accepted batch is final at once.
  const statuses = await page.$$eval('#batches tr.batch .batch-status', (cells) => cells.map((c) => c.textContent));
  check(statuses.every((s) => s === 'final'), `batch statuses ${statuses}`);
  step(`batches on L1: ${links.length} listed, final, linked to ${explorer}/tx/..., each a successful transaction to the contract`);

  // The owner closes the layer; the page shows the final batch, then a claim.
  const owner = new ethers.Wallet(process.env.FL_OWNER_KEY, l1);
  const close = await new ethers.Contract(contract, ['function close()'], owner).close();
  await close.wait();
  await page.waitForFunction(() => !document.getElementById('claims-section').hidden
    && /^final batch \d+/.test(document.getElementById('claims-summary').textContent), null, { timeout: 120_000 });
  step(`the owner closed the layer; the page shows ${(await page.textContent('#claims-summary')).split(' · ')[0]}`);
  const account = (await wallet.getAddress()).toLowerCase();
  const { stdout: out } = await promisify(execFile)(process.env.FL_BIN, ['claim', '--l1-rpc', process.env.FL_L1, '--contract', contract,
    '--private-key', config.key, '--rpc', config.http, '--wait', '120'], { encoding: 'utf8' });
  await page.waitForFunction((a) => [...document.querySelectorAll('#claims tr.exit')].some((r) => r.textContent.toLowerCase().includes(a)), account, { timeout: 60_000 });
  const [row, href] = await page.$$eval('#claims tr.exit', (rows, a) => {
    const mine = rows.find((r) => r.textContent.toLowerCase().includes(a));
    return [mine.innerText, mine.querySelector('a.l1-link').href];
  }, account);
  check(/^claim/.test(row) && row.includes('ETH'), `the claim row: ${row}`);
  const receipt = await l1.getTransactionReceipt(href.slice(`${explorer}/tx/`.length));
  check(receipt && receipt.status === 1 && receipt.from.toLowerCase() === account, `the claim links to its L1 transaction ${href}`);
  // Exactly one claim was made: the page counts it once.
  check(Number(await page.textContent('#claimed-count')) === 1, 'the claimed count is 1');
  step(`flashlayer claim (${out.trim().split('\n').pop()}); the page lists it: ${row.replace(/\s+/g, ' ')}`);
  l1.destroy();
}

run(async () => {
  const pageUrl = process.env.FL_PAGE;
  check(pageUrl, 'FL_PAGE is set');
  // The flags this machine's closed network needs (no background connections, no QUIC).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
    await page.goto(pageUrl);
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('latest').textContent), null, { timeout: 30_000 });
    const phase = await page.textContent('#phase');
    step(`the page loads: phase ${phase}, latest block ${await page.textContent('#latest')}`);

    // Traffic for the charts, and the transaction to find.
    const provider = new ethers.JsonRpcProvider(config.http, undefined, { polling: true, pollingInterval: 250 });
    const wallet = new ethers.NonceManager(new ethers.Wallet(config.key, provider));
    const to = ethers.Wallet.createRandom().address;
    const burst = await Promise.all(Array.from({ length: 20 }, () => wallet.sendTransaction({ to, value: 1n })));
    await Promise.all(burst.map((tx) => tx.wait()));
    const sent = await wallet.sendTransaction({ to, value: ethers.parseEther('0.25') });
    const receipt = await sent.wait();
    step(`sent ${burst.length + 1} transfers; the last, ${sent.hash.slice(0, 12)}..., is in block ${receipt.blockNumber}`);

    // The charts draw: points and painted pixels on each canvas.
    await page.waitForFunction(
      () => ['tps-chart', 'latency-chart', 'interval-chart', 'mempool-chart'].every((id) => Number(document.getElementById(id).dataset.points) >= 2),
      null,
      { timeout: 30_000 },
    );
    const painted = await page.evaluate(() => ['tps-chart', 'latency-chart', 'interval-chart', 'mempool-chart'].map((id) => {
      const c = document.getElementById(id);
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      // The series' colours (blue, amber), not the grid's greys.
      let line = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        if (a > 0 && ((b > 200 && r < 120) || (r > 200 && g > 140 && b < 100))) line++;
      }
      return line;
    }));
    check(painted.every((n) => n > 10), `every chart draws its series (line pixels ${painted})`);
    await page.waitForFunction((n) => document.getElementById('blocks').textContent.includes(String(n)), receipt.blockNumber, { timeout: 30_000 });
    step(`charts draw (line pixels ${painted.join(', ')}); block ${receipt.blockNumber} is in the recent blocks`);

    // The explorer finds the transaction, with its status and call trace, then its recipient.
    await page.fill('#explorer-input', sent.hash);
    await page.press('#explorer-input', 'Enter');
    await page.waitForSelector('#tx-status', { timeout: 30_000 });
    check((await page.textContent('#tx-status')) === 'success', 'the explorer shows the transaction succeeded');
    const trace = JSON.parse(await page.textContent('#tx-trace'));
    check(trace.type === 'CALL' && trace.to.toLowerCase() === to.toLowerCase() && BigInt(trace.value) === ethers.parseEther('0.25'), `call trace ${JSON.stringify(trace)}`);
    await page.click(`#explorer-result a[data-q="${to}"], #explorer-result a[data-q="${to.toLowerCase()}"]`);
    await page.waitForSelector('#address-balance', { timeout: 30_000 });
    const balance = await page.textContent('#address-balance');
    check(balance.startsWith('0.250000'), `the recipient's balance ${balance}`);
    step(`explorer: ${sent.hash.slice(0, 12)}... success, call trace to ${to.slice(0, 10)}..., its balance ${balance}`);

    // The page's RPC takes reads only.
    const refused = await page.evaluate(async () => {
      const res = await fetch('/rpc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: ['0x00'] }) });
      return res.json();
    });
    check(refused.error && refused.error.code === -32601, `eth_sendRawTransaction refused: ${JSON.stringify(refused)}`);
    step('the page\'s RPC refuses eth_sendRawTransaction (-32601)');

    if (process.env.FL_L1) await settlement(page, wallet);

    if (process.env.FL_SCREENSHOT) {
      await page.fill('#explorer-input', sent.hash);
      await page.press('#explorer-input', 'Enter');
      await page.waitForSelector('#tx-status');
      await page.screenshot({ path: process.env.FL_SCREENSHOT, fullPage: true });
      step(`screenshot: ${process.env.FL_SCREENSHOT}`);
    }
    check(errors.length === 0, `no page errors: ${errors.join('; ')}`);
    provider.destroy();
  } finally {
    await browser.close();
  }
});
