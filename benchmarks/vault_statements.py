"""SQL statements per vault-touching request, in-process (no sockets, no workers).

    .venv/bin/python benchmarks/vault_statements.py [--openapi out.json]

Builds a runtime on SQLite in a temporary directory, creates a merchant and sends 20 of each
request through the ASGI app with Starlette's TestClient, counting the statements the engine
executes per request: tokenize (``POST /v1/payment_methods`` with a CVC), confirm with a
vaulted ``pm_`` (detokenize, CVC destruction), customer create (PII sealing, blind index),
retrieve, list by ``email=`` and delete (crypto-shredding). ``--openapi`` also writes the
app's OpenAPI document (sorted keys), to compare two trees byte for byte.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from strongbox.api.app import create_app
from strongbox.auth import service as auth
from strongbox.core.settings import Settings
from strongbox.runtime import build_runtime

CARD = {
    "type": "card",
    "card[number]": "4242424242424242",
    "card[exp_month]": "12",
    "card[exp_year]": "2040",
    "card[cvc]": "123",
}
REPS = 20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--openapi", type=Path)
    args = ap.parse_args()
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="strongbox-vstmts-")),
        run_workers=False,
        public_url="http://testserver",
    )
    rt = build_runtime(settings)
    with rt.db.unit_of_work() as uow:
        new = auth.create_merchant(uow, "statements")
        uow.commit()
    app = create_app(rt, run_workers=False)
    if args.openapi:
        args.openapi.write_text(json.dumps(app.openapi(), indent=1, sort_keys=True))
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {new.secret_key.reveal()}"
    count = [0]

    def on_execute(*_: Any) -> None:
        count[0] += 1

    event.listen(rt.db.engine, "before_cursor_execute", on_execute)

    def measure(label: str, call: Callable[[int], Any]) -> None:
        seen = []
        for i in range(REPS):
            count[0] = 0
            r = call(i)
            assert r.status_code == 200, r.text
            seen.append(count[0])
        print(f"{label:34s} statements per request: {sorted(set(seen[-10:]))}")

    measure(
        "tokenize (POST payment_method)", lambda i: client.post("/v1/payment_methods", data=CARD)
    )
    pms = [client.post("/v1/payment_methods", data=CARD).json()["id"] for _ in range(REPS)]
    pay = {"amount": "1000", "currency": "usd", "confirm": "true"}
    measure(
        "confirm with a vaulted pm_",
        lambda i: client.post("/v1/payment_intents", data={**pay, "payment_method": pms[i]}),
    )
    measure(
        "create customer (PII)",
        lambda i: client.post("/v1/customers", data={"email": f"a{i}@x.test", "name": "A B"}),
    )
    ids = [
        client.post("/v1/customers", data={"email": f"b{i}@x.test", "name": "B"}).json()["id"]
        for i in range(REPS)
    ]
    measure("retrieve customer", lambda i: client.get(f"/v1/customers/{ids[i]}"))
    measure(
        "list customers by email",
        lambda i: client.get("/v1/customers", params={"email": f"b{i}@x.test"}),
    )
    measure("delete customer (crypto-shred)", lambda i: client.delete(f"/v1/customers/{ids[i]}"))
    client.close()
    rt.close()


if __name__ == "__main__":
    main()
