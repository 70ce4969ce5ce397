"""Run by the OFFICIAL SDK's interpreter (coinbase-advanced-py in its own virtualenv: it pins
websockets<14), against the fake Coinbase named in the environment. Prints what it saw as JSON.
Not a test module: test_official_sdk.py runs it."""

import json
import os
import threading

from coinbase.rest import RESTClient
from coinbase.websocket import WSUserClient

key = os.environ["COINBASE_API_KEY"]
secret = os.environ["COINBASE_API_SECRET"].replace("\\n", "\n")
client = RESTClient(api_key=key, api_secret=secret, base_url=os.environ["COINBASE_BASE_URL"])
client.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
client.session.verify = os.environ["COINBASE_CA_FILE"]

out = {}
out["accounts"] = sorted(a["currency"] for a in client.get_accounts().to_dict()["accounts"])
product = client.get_product("BTC-USD").to_dict()
out["increments"] = [product["base_increment"], product["quote_increment"]]
end = int(os.environ["SDK_NOW"])
candles = client.get_public_candles("BTC-USD", str(end - 600), str(end), "ONE_MINUTE")
out["candles"] = len(candles.to_dict()["candles"])

messages = []
got_update = threading.Event()


def on_message(raw):
    message = json.loads(raw)
    messages.append(message)
    if message.get("channel") == "user" and message["events"][0]["type"] == "update":
        got_update.set()


ws = WSUserClient(
    api_key=key,
    api_secret=secret,
    base_url=os.environ["COINBASE_WS_USER_URL"],
    on_message=on_message,
)
ws.open()
ws.user(product_ids=["BTC-USD"])
ws.heartbeats()

market = client.market_order_buy("sdk-mkt", "BTC-USD", base_size="0.01").to_dict()
again = client.market_order_buy("sdk-mkt", "BTC-USD", base_size="0.01").to_dict()
out["market"] = [
    market["success"],
    market["success_response"]["order_id"] == again["success_response"]["order_id"],
]
limit = client.limit_order_gtc_buy(
    "sdk-lmt", "BTC-USD", base_size="0.01", limit_price="50000"
).to_dict()
oid = limit["success_response"]["order_id"]
out["edit"] = client.edit_order(oid, size="0.02", price="51000").to_dict()["success"]
out["get"] = client.get_order(oid).to_dict()["order"]["order_configuration"]["limit_limit_gtc"][
    "limit_price"
]
out["open"] = [
    o["client_order_id"] for o in client.list_orders(order_status=["OPEN"]).to_dict()["orders"]
]
out["cancel"] = [r["success"] for r in client.cancel_orders([oid]).to_dict()["results"]]
stop = client.stop_limit_order_gtc_sell(
    "sdk-stl",
    "BTC-USD",
    base_size="0.005",
    limit_price="40000",
    stop_price="41000",
    stop_direction="STOP_DIRECTION_STOP_DOWN",
).to_dict()
bracket = client.trigger_bracket_order_gtc_sell(
    "sdk-brk", "BTC-USD", base_size="0.005", limit_price="70000", stop_trigger_price="50000"
).to_dict()
out["stop_bracket"] = [stop["success"], bracket["success"]]
poor = client.market_order_buy("sdk-poor", "BTC-USD", base_size="100").to_dict()
out["refused"] = [poor["success"], poor["error_response"]["error"]]
fills = client.get_fills(order_ids=[market["success_response"]["order_id"]]).to_dict()["fills"]
out["fills"] = [[f["size"], f["price"]] for f in fills]
out["user_update"] = got_update.wait(5)
out["heartbeat"] = any(m.get("channel") == "heartbeats" for m in messages)
ws.close()
print(json.dumps(out))
