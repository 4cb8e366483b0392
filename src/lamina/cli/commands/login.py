"""``lamina login [-u USER] [-p PASS | --password-stdin] [SERVER]``: credentials in docker's config.json."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


@click.command("login", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("server", required=False, default="")
@click.option("-u", "--username", help="Username")
@click.option("-p", "--password", help="Password")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin")
@with_engine
def command(engine: Engine, server: str, username: str | None, password: str | None,
            password_stdin: bool) -> None:
    """Log in to a registry."""
    from lamina.errors import InvalidOption
    if password_stdin:
        if password:
            raise InvalidOption("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    elif not password_stdin:
        echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True)
    engine.distribution.login(server, username, password)
    echo("Login Succeeded")
