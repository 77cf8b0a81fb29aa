"""``hub outcomes report``: a programme's figures, as its manager would download them.

The same path as ``GET /outcomes/report``: the reader is a ``PROGRAMME_MANAGER`` of a party to
the agreement (named with ``--organisation`` and ``--user``), every figure goes through the
agreement's disclosure control, and the report is recorded as an aggregate disclosure (so it
needs the broker) before it is printed.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.common import command_group, load_settings, parties_checked, with_local_broker

outcomes_app = command_group(
    help="Programme monitoring: figures by quarter, pathway and organisation (ADR 0031).",
    no_args_is_help=True,
)


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"


@outcomes_app.command("report")
def report(
    programme: Annotated[
        str, typer.Option(help="The programme as its referrals name it, e.g. 'Baby and Me'.")
    ],
    organisation: Annotated[str, typer.Option(help="The programme manager's organisation code.")],
    user: Annotated[str, typer.Option(help="The programme manager's user id.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD; default today (babies' ages).")
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="csv or json.")] = Format.CSV,
) -> None:
    """Print PROGRAMME's report (CSV, one line per figure; or JSON) after recording it in the
    disclosure log. Exits 1 if the programme is unknown or the reader may not read it, 3 if the
    disclosure could not be recorded (then nothing is printed)."""
    from hub.bootstrap import build_hub
    from hub.disclosures import Channel
    from hub.outcomes.report import to_csv
    from hub.services.errors import ForbiddenError, NotFoundError, NotRecordedError
    from hub.services.outcomes import programme_report
    from hub.services.release import SharingContext
    from hub.sharing.policy import Recipient

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        typer.secho(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)", fg="red", err=True)
        raise typer.Exit(2) from None
    hub = build_hub(parties_checked(with_local_broker(load_settings())), client_id="hub-outcomes")
    reader = Recipient(organisation_code=organisation, role="PROGRAMME_MANAGER", user_id=user)
    context = SharingContext(hub.agreement, hub.sharing, hub.identity, hub.sink, hub.clock)
    try:
        found = asyncio.run(
            programme_report(
                hub.outcomes,
                context,
                reader,
                programme,
                as_of=day,
                channel=Channel.EXPORT,
                reference=f"hub outcomes report --programme {programme}",
            )
        )
    except (ForbiddenError, NotFoundError) as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(1) from None
    except NotRecordedError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(3) from None
    finally:
        hub.close()
    if output is Format.JSON:
        typer.echo(json.dumps(found.as_json(), indent=2))
    else:
        typer.echo(to_csv(found), nl=False)


@outcomes_app.command("synthetic")
def synthetic_year(
    out: Annotated[Path, typer.Option(help="Directory to write the four CSV files to.")],
    families: Annotated[int, typer.Option(min=1, help="Families referred in the year.")] = 2000,
    seed: Annotated[int, typer.Option(help="The same seed gives the same files.")] = 20,
) -> None:
    """Write a synthetic programme year (hub/outcomes/synthetic.py: the rates and where they
    come from) as the partners' systems would send it, to load with `hub connector run`:
    activity.csv (voluntary-activity, the charity), clinic.csv (voluntary-activity, the
    programme midwife's clinic, service type antenatal), births.csv (voluntary-activity, the
    council) and episodes.csv (ssda903-episodes, the council). No real person is in them."""
    from hub.outcomes.synthetic import YearRates, programme_year

    year = programme_year(YearRates(families=families), seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("activity.csv", year.activity),
        ("clinic.csv", year.clinic),
        ("births.csv", year.births),
        ("episodes.csv", year.episodes),
    ):
        (out / name).write_text(text, encoding="utf-8")
    summary = ", ".join(f"{count} {what}" for what, count in year.counts.items())
    typer.echo(f"{out}: {families} families ({summary})")


@outcomes_app.command("extract")
def extract(
    evaluation: Annotated[str, typer.Option(help="The evaluation's name, e.g. ipc-2027.")],
    programme: Annotated[str, typer.Option(help="The programme as its referrals name it.")],
    organisation: Annotated[str, typer.Option(help="The evaluator's organisation code.")],
    user: Annotated[str, typer.Option(help="The evaluator's user id.")],
    out: Annotated[Path, typer.Option(help="Directory for extract.csv and data-dictionary.csv.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD; default today (babies' ages).")
    ] = None,
) -> None:
    """Write the evaluation's pseudonymised extract of PROGRAMME (hub/outcomes/extract.py) and
    its data dictionary, each episode released through the sharing gate under a
    SERVICE_EVALUATION flow and recorded as a disclosure first. The evaluation's key is made
    under HUB_STATE_DIR/evaluation-keys on first use; deleting it ends the link. Exits 1 if
    refused or unknown, 3 if the disclosures could not be recorded (then nothing is written)."""
    import csv

    from hub.bootstrap import build_hub
    from hub.kafka.codec import load_schema
    from hub.outcomes.extract import COLUMNS, data_dictionary
    from hub.services.errors import (
        ForbiddenError,
        NotFoundError,
        NotRecordedError,
        UnprocessableError,
    )
    from hub.services.evaluation import evaluation_extract, evaluation_key
    from hub.services.release import SharingContext
    from hub.sharing.policy import Recipient

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        typer.secho(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)", fg="red", err=True)
        raise typer.Exit(2) from None
    settings = parties_checked(with_local_broker(load_settings()))
    hub = build_hub(settings, client_id="hub-outcomes-extract")
    reader = Recipient(organisation_code=organisation, role="EVALUATOR", user_id=user)
    context = SharingContext(hub.agreement, hub.sharing, hub.identity, hub.sink, hub.clock)
    try:
        key = evaluation_key(settings.state_dir, evaluation, create=True)
        with typer.progressbar(length=1, label="episodes") as bar:

            def progress(done: int, of: int) -> None:
                bar.length = of
                bar.update(1)

            found = asyncio.run(
                evaluation_extract(
                    hub.outcomes,
                    context,
                    reader,
                    programme,
                    evaluation=evaluation,
                    key=key,
                    as_of=day,
                    progress=progress,
                )
            )
    except (ForbiddenError, NotFoundError, UnprocessableError) as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(1) from None
    except NotRecordedError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(3) from None
    finally:
        hub.close()
    out.mkdir(parents=True, exist_ok=True)
    with (out / "extract.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, [c.name for c in COLUMNS])
        writer.writeheader()
        writer.writerows(found.rows)
    dictionary = data_dictionary(load_schema("case_event"))
    with (out / "data-dictionary.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, ["column", "meaning", "from", "contract"])
        writer.writeheader()
        writer.writerows(dictionary)
    typer.echo(f"{out}: {len(found.rows)} episodes released, {found.withheld} withheld")
