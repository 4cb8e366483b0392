"""``lamina version``: client and runtime versions."""

from __future__ import annotations

import platform

import click

from lamina import __version__
from lamina.cli.context import echo


@click.command("version", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
def command(fmt: str | None) -> None:
    """Show the lamina version information."""
    data = {"Client": {"Version": __version__, "Os": "linux", "Arch": platform.machine(),
                       "PythonVersion": platform.python_version()}}
    if fmt:
        from lamina.cli.gotemplate import Template
        echo(Template(fmt).render(data))
        return
    echo("Client:")
    echo(f" Version:        {__version__}")
    echo(f" Python version: {platform.python_version()}")
    echo(f" OS/Arch:        linux/{platform.machine()}")
