// What the client checks share: their inputs, the contracts they deploy, a step log and
// a deadline. Each check is a plain script run by tests/tests/it/clients.rs against a
// 4-node layer and against anvil, so it may only ask for what any Ethereum node does.
//
// Inputs (environment): FL_HTTP, FL_WS (the node's JSON-RPC over HTTP and WebSocket),
// FL_KEY (a funded private key, 0x-hex), FL_ARTIFACTS (forge's contracts/out directory).
// Packages come from .tools/node_modules (scripts/setup) through NODE_PATH.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see tests/clients/common.cjs)`);
  return value;
}

// Read when used: a check that needs no contracts need not name them.
const config = {
  get http() { return env('FL_HTTP'); },
  get ws() { return env('FL_WS'); },
  get key() { return env('FL_KEY'); },
  get artifacts() { return env('FL_ARTIFACTS'); },
};

/** forge's artifact of `name`: its ABI and creation bytecode. */
function artifact(name) {
  const file = path.join(config.artifacts, `${name}.sol`, `${name}.json`);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  return { abi: json.abi, bytecode: json.bytecode.object };
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

const started = Date.now();
function step(name) {
  console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** Resolves with what `start(resolve)` passes to resolve, or rejects after `ms`. */
function within(ms, what, start) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    Promise.resolve(
      start((value) => {
        clearTimeout(timer);
        resolve(value);
      }, reject),
    ).catch(reject);
  });
}

/** Runs `main`, prints the failure and exits non-zero on error; exits 0 when it resolves. */
function run(main) {
  const secs = Number(process.env.FL_DEADLINE_SECS || 180);
  const deadline = setTimeout(() => {
    console.error(`not ok - the whole suite took more than ${secs} s`);
    process.exit(1);
  }, secs * 1000);
  main().then(
    () => {
      clearTimeout(deadline);
      console.log('all checks passed');
      process.exit(0);
    },
    (e) => {
      console.error(`not ok - ${e && e.stack ? e.stack : e}`);
      process.exit(1);
    },
  );
}

module.exports = { config, artifact, check, step, within, run };
