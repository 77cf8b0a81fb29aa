"""Send a file as a Standard Webhooks delivery, signed as a partner's system signs it.

For trying the partner webhook, and as a worked example of the signing a charity's system does
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` via the ``standardwebhooks``
library)::

    HUB_WEBHOOK_SECRET=whsec_... .venv/bin/python -m hub.connectors.voluntary.sign_and_send \\
        docs/examples/webhooks/session-missed.json http://localhost:8000/partners/CODE/webhooks

Prints the status and the hub's answer; exits 1 unless the answer is 2xx.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook


def signed_headers(secret: str, body: str, now: datetime) -> dict[str, str]:
    message_id = f"msg_{uuid.uuid4().hex}"
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
        "content-type": "application/json",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("file", type=Path, help="the JSON body to send")
    parser.add_argument("url", help="the partner webhook, .../partners/CODE/webhooks")
    arguments = parser.parse_args(argv)
    secret = os.environ.get("HUB_WEBHOOK_SECRET")
    if not secret:
        parser.error("set HUB_WEBHOOK_SECRET to the partner's secret (whsec_...)")
    body = arguments.file.read_text(encoding="utf-8")
    headers = signed_headers(secret, body, datetime.now(UTC))
    response = httpx.post(arguments.url, content=body, headers=headers, timeout=30)
    print(response.status_code, response.text)
    return 0 if response.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
