"""``lamina attach [--no-stdin] [--sig-proxy=BOOL] [--detach-keys KEYS] CONTAINER``.

Must not hold business logic: it parses docker's detach-key syntax, puts a terminal in raw mode
for a tty container, and exits with the container's status (0 after detaching).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


def parse_detach_keys(text: str) -> bytes:
    """docker's ``ctrl-p,ctrl-q`` syntax: ``ctrl-a``…``ctrl-z``, ``ctrl-@``, ``ctrl-[``…``ctrl-_``, one character."""
    from lamina.errors import InvalidOption
    out = bytearray()
    for key in text.split(","):
        if key.startswith("ctrl-") and len(key) == 6 and ("a" <= key[5] <= "z" or key[5] in "@[\\]^_"):
            out.append(ord(key[5].upper()) - 64)
        elif len(key) == 1:
            out += key.encode()
        else:
            raise InvalidOption(f"invalid detach keys {text!r}: unknown key {key!r}")
    return bytes(out)


@contextlib.contextmanager
def _raw_terminal(fd: int, wanted: bool) -> Iterator[None]:
    if not wanted or not os.isatty(fd):
        yield
        return
    import termios
    import tty
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@click.command("attach", context_settings={"help_option_names": ["--help"]})
@click.argument("container")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option("--sig-proxy", type=bool, default=True, show_default=True,
              help="Proxy all received signals to the process")
@click.option("--detach-keys", default="ctrl-p,ctrl-q", help="Override the key sequence for detaching a container")
@with_engine
def command(engine: Engine, container: str, no_stdin: bool, sig_proxy: bool, detach_keys: str) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    keys = parse_detach_keys(detach_keys)
    record, _ = engine.containers.get(container)
    with _raw_terminal(0, record.tty and record.interactive and not no_stdin):
        code = engine.containers.attach(container, stdin=not no_stdin, detach_keys=keys, sig_proxy=sig_proxy)
    if code is None:
        sys.stderr.write("read escape sequence\n")
    raise SystemExit(code or 0)
