#!/usr/bin/env python3
"""Measures webhook acknowledgement latency against a running Switchboard.

Sends N signed text-message webhooks (each a new wamid, so each is stored and
enqueued) one after another over one keep-alive connection, and prints p50/p99/max
of the time from sending the request to reading the 200. Standard library only.

    python3 scripts/webhook_latency.py --secret "$(jq -r .app_secret data/sandbox-secrets.json)" -n 2000

The proper benchmark (throughput, end-to-end, RSS) is `switchboard-bench` (issue 7).
"""
import argparse
import hashlib
import hmac
import http.client
import json
import time
import uuid


def body(i: int) -> bytes:
    msg = {
        "from": "4477009%05d" % (i % 100000),
        "id": "wamid.BENCH.%s" % uuid.uuid4().hex,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": "hello number %d" % i},
    }
    env = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": "100000000000001"},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": msg["from"]}],
            "messages": [msg],
        }}]}],
    }
    return json.dumps(env, separators=(",", ":")).encode()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--secret", required=True)
    p.add_argument("-n", type=int, default=1000)
    a = p.parse_args()
    conn = http.client.HTTPConnection(a.host, a.port)
    lat = []
    for i in range(a.n):
        b = body(i)
        sig = "sha256=" + hmac.new(a.secret.encode(), b, hashlib.sha256).hexdigest()
        t0 = time.perf_counter()
        conn.request("POST", "/webhook/whatsapp", b, {"content-type": "application/json", "x-hub-signature-256": sig})
        r = conn.getresponse()
        r.read()
        lat.append(time.perf_counter() - t0)
        if r.status != 200:
            raise SystemExit("HTTP %d on request %d" % (r.status, i))
    lat.sort()
    ms = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print("webhooks=%d  p50=%.2f ms  p90=%.2f ms  p99=%.2f ms  max=%.2f ms" % (a.n, ms(0.5), ms(0.9), ms(0.99), lat[-1] * 1000))


if __name__ == "__main__":
    main()
