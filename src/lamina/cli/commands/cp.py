"""``lamina cp CONTAINER:SRC DEST|-`` and ``lamina cp SRC|- CONTAINER:DEST``.

Must not hold business logic. "-" is a tar stream on stdin/stdout, as with docker.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from lamina.cli.context import with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


def split(arg: str) -> tuple[str | None, str]:
    """("name", "/path") for "name:/path"; (None, arg) for a local path (one with "/" before ":")."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path


@click.command("cp", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source")
@click.argument("dest")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information)")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output")
@with_engine
def command(engine: Engine, source: str, dest: str, archive: bool, follow_link: bool, quiet: bool) -> None:
    """Copy files/folders between a container and the local filesystem."""
    from lamina.errors import InvalidOption
    src_name, src_path = split(source)
    dst_name, dst_path = split(dest)
    if (src_name is None) == (dst_name is None):
        raise InvalidOption("copying between containers or between local paths is not supported: "
                            "one of SRC and DEST must be CONTAINER:PATH")
    if src_name is not None:
        out = sys.stdout.buffer if dst_path == "-" else dst_path
        engine.containers.copy_from(src_name, src_path, out)
        if dst_path == "-":
            sys.stdout.buffer.flush()
        return
    assert dst_name is not None
    source_stream = sys.stdin.buffer if src_path == "-" else src_path
    engine.containers.copy_to(dst_name, source_stream, dst_path)
