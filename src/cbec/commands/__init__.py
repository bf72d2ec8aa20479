"""Command functions for the ``cbec`` CLI, one module per command, registered in ``cbec.cli``.

Kept apart from ``cli.py`` so each command can be imported, tested on a small Typer app of its own, and
registered with ``app.command()(function)`` without the CLI module growing with every feature.
"""
