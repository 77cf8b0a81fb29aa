"""``hub subscriptions deliver``: push the alert change feed to the webhook subscriptions.

The worker does this every ``HUB_SUBSCRIPTION_INTERVAL_SECONDS``; the command is for operators
(after a replay request; it takes the same lease as the worker's run, so the two never send
the same change) and for scripts: ``--once`` runs one pass and prints what it did.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from hub.cli.common import command_group

subscriptions_app = command_group(help="Outgoing webhook subscriptions (ADR 0016).")


@subscriptions_app.command("deliver")
def deliver(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
) -> None:
    """Deliver new alert changes (and requested replays) to every active subscription."""
    from hub.bootstrap import delivering
    from hub.cli.common import load_settings, with_local_broker

    settings = with_local_broker(load_settings())
    with delivering(settings, "hub-subscriptions") as deliverer:
        while True:
            report = asyncio.run(deliverer.run_once())
            typer.echo(
                f"delivered {report.delivered}, withheld {report.withheld}, retrying "
                f"{report.retrying}, dead-lettered "
                f"{report.dead_lettered}, held {report.held}, stopped {report.stopped}, "
                f"attempts {report.attempts}, subscriptions {len(report.subscriptions)}"
            )
            if once:
                return
            time.sleep(settings.subscription_interval_seconds)
