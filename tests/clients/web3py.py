"""web3.py over HTTP and WebSocket, as a Python backend or data team uses it: deploy and
transact with signed raw transactions, decode a receipt's events, read a revert reason, and
follow new heads and a contract's logs over an `eth_subscribe` WebSocket.

Inputs as the JavaScript checks (tests/clients/common.cjs): FL_HTTP, FL_WS, FL_KEY,
FL_ARTIFACTS. web3.py comes from .tools/python (scripts/setup) through PYTHONPATH.
"""

import asyncio
import json
import os
import sys

from eth_account import Account
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.exceptions import ContractLogicError

HTTP, WS, KEY, ARTIFACTS = (os.environ[k] for k in ("FL_HTTP", "FL_WS", "FL_KEY", "FL_ARTIFACTS"))


def artifact(name):
    with open(os.path.join(ARTIFACTS, f"{name}.sol", f"{name}.json")) as f:
        data = json.load(f)
    return data["abi"], data["bytecode"]["object"]


def check(condition, message):
    if not condition:
        raise AssertionError(f"check failed: {message}")


def step(message):
    print(f"ok - {message}", flush=True)


w3 = Web3(Web3.HTTPProvider(HTTP, request_kwargs={"timeout": 30}))
account = Account.from_key(KEY)


def send(tx):
    """Fills, signs and sends `tx` from the account; returns its successful receipt."""
    tx = dict(tx)
    tx.setdefault("from", account.address)
    tx["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
    tx.setdefault("chainId", w3.eth.chain_id)
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=60)
    check(receipt.status == 1, f"transaction {receipt.transactionHash.hex()} succeeds")
    return receipt


def deploy(name, *args):
    abi, bytecode = artifact(name)
    receipt = send(w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args).build_transaction({"from": account.address}))
    return w3.eth.contract(address=receipt.contractAddress, abi=abi)


async def follow(token, tally):
    """newHeads and Tally's logs over one WebSocket, while a count is sent over HTTP."""
    async with AsyncWeb3(WebSocketProvider(WS)) as ws:
        heads = await ws.eth.subscribe("newHeads")
        logs = await ws.eth.subscribe("logs", {"address": tally.address})
        loop = asyncio.get_running_loop()
        sent = loop.run_in_executor(None, lambda: send(tally.functions.count(7).build_transaction({"from": account.address})))
        seen_head, seen_log = None, None
        async def listen():
            nonlocal seen_head, seen_log
            async for message in ws.socket.process_subscriptions():
                if message["subscription"] == heads and seen_head is None:
                    seen_head = message["result"]["number"]
                elif message["subscription"] == logs and seen_log is None:
                    seen_log = message["result"]
                if seen_head is not None and seen_log is not None:
                    return
        await asyncio.wait_for(listen(), timeout=60)
        receipt = await sent
        check(seen_log["transactionHash"] == receipt.transactionHash, "the log is the count's")
        decoded = tally.events.Counted().process_log(seen_log)
        check(decoded.args.amount == 7, f"Counted.amount {decoded.args.amount}")
        await ws.eth.unsubscribe(heads)
        await ws.eth.unsubscribe(logs)
        return seen_head, decoded


def main():
    check(w3.is_connected(), f"{HTTP} answers")
    step(f"chain {w3.eth.chain_id}, {account.address} holds {w3.eth.get_balance(account.address)} wei, block {w3.eth.block_number}")

    supply = 10**24
    token = deploy("TestToken", "Flash", "FL", supply)
    tally = deploy("Tally")
    check(token.functions.totalSupply().call() == supply, "totalSupply")
    step(f"deployed: token {token.address}, Tally {tally.address}")

    recipient = Account.create().address
    receipt = send(token.functions.transfer(recipient, 4321).build_transaction({"from": account.address}))
    (event,) = token.events.Transfer().process_receipt(receipt)
    check(event.args["from"] == account.address and event.args.to == recipient and event.args.value == 4321, f"Transfer {dict(event.args)}")
    check(token.functions.balanceOf(recipient).call() == 4321, "balanceOf")
    block = w3.eth.get_block(receipt.blockNumber, full_transactions=True)
    check(block.transactions[receipt.transactionIndex].hash == receipt.transactionHash, "the block holds the transaction")
    logs = w3.eth.get_logs({"fromBlock": receipt.blockNumber, "toBlock": receipt.blockNumber, "address": token.address})
    check(len(logs) == 1 and logs[0].transactionHash == receipt.transactionHash, "get_logs finds the Transfer")
    step("transfer: receipt events decoded, balanceOf, get_block and get_logs agree")

    try:
        tally.functions.count(0).call({"from": account.address})
        check(False, "count(0) reverts")
    except ContractLogicError as e:
        check("Tally: nothing to count" in str(e), f"revert reason in {e}")
    step("revert reason: ContractLogicError carries \"Tally: nothing to count\"")

    head, counted = asyncio.run(follow(token, tally))
    step(f"WebSocket: newHeads (block {head}) and a logs subscription (Counted total {counted.args.total})")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - the runner wants one line and a non-zero exit
        print(f"not ok - {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1)
    print("all checks passed")
