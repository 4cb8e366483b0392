"""``lamina inspect [--type container|image|volume|network] NAME...``: docker's JSON, or ``--format`` per
object; without ``--type`` a name is looked up as a container, an image, a volume, then a network."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


def inspect_one(engine: Engine, name: str, kind: str | None) -> dict[str, Any]:
    """Resolve *name* as a container first (as docker does), then an image, a volume, a network."""
    from lamina.errors import NotFound
    for what in ("container", "image", "volume", "network"):
        if kind in (None, what):
            try:
                return _lookup(engine, what, name)
            except NotFound:
                if kind == what:
                    raise
    raise NotFound(f"no such object: {name}")


def _lookup(engine: Engine, kind: str, name: str) -> dict[str, Any]:
    from lamina.errors import InvalidOption, VolumeNotFound
    if kind == "container":
        return engine.containers.inspect(name)
    if kind == "image":
        return engine.images.inspect(name)
    if kind == "network":
        return engine.containers.network_json(name)
    try:
        data: dict[str, Any] = engine.volumes.get(name).to_inspect()
    except InvalidOption:   # not a volume name at all
        raise VolumeNotFound(name) from None
    return data


def render_objects(objects: list[dict[str, Any]], fmt: str | None) -> str:
    from lamina.cli.output import render_json
    if not fmt or fmt == "json":
        return render_json(objects)
    from lamina.cli.gotemplate import Template
    template = Template(fmt)
    return "\n".join(template.render(obj) for obj in objects)


def inspect_command(kind: str | None, name: str = "inspect") -> click.Command:
    """The shared body of ``inspect``, ``image inspect`` and ``container inspect``."""
    @click.command(name, context_settings={"help_option_names": ["-h", "--help"]})
    @click.argument("names", nargs=-1, required=True)
    @click.option("-f", "--format", "fmt", help="Format output using a custom template")
    @click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is container")
    @click.option("--type", "type_", type=click.Choice(["container", "image", "volume", "network"])
                  if kind is None else None,
                  default=kind, hidden=kind is not None, help="Only inspect objects of the given type")
    @with_engine
    def run(engine: Engine, names: tuple[str, ...], fmt: str | None, size: bool, type_: str | None) -> None:
        """Return low-level information on lamina objects."""
        from lamina.errors import NotFound
        objects, missing = [], []
        for n in names:
            try:
                objects.append(inspect_one(engine, n, type_))
            except NotFound:
                missing.append(n)
        if objects or not fmt:
            echo(render_objects(objects, fmt))
        for n in missing:
            echo(f"Error: No such object: {n}", err=True)
        if missing:
            raise SystemExit(1)
    return run


command = inspect_command(None)
