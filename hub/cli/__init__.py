"""The ``hub`` command line: one Typer app (:mod:`hub.cli.main`) and a module per command group."""
