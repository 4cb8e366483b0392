"""``lamina volume create|ls|inspect|rm|prune``: local volumes with docker's output shapes.

Must not hold business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine

CTX = {"help_option_names": ["-h", "--help"]}
HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE",
           "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def _users(engine: Engine) -> dict[str, list[str]]:
    if not (engine.root / "containers").is_dir():
        return {}
    return engine.containers.volume_users()


@click.group("volume", context_settings=CTX)
def command() -> None:
    """Manage volumes."""


@command.command("create", context_settings=CTX)
@click.argument("name", required=False)
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.option("-l", "--label", "labels", multiple=True, help="Set metadata for a volume")
@click.option("--name", "name_opt", help="Specify volume name")
@with_engine
def create(engine: Engine, name: str | None, driver: str, labels: tuple[str, ...], name_opt: str | None) -> None:
    """Create a volume."""
    from lamina.errors import InvalidOption
    if driver != "local":
        raise InvalidOption(f"create volume: driver {driver!r} is not supported (only local)")
    pairs = dict(label.partition("=")[::2] for label in labels)
    volume = engine.volumes.create(name or name_opt, labels=pairs)
    echo(volume.name)


@command.command("ls", context_settings=CTX)
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true')")
@click.option("--format", "fmt", help="Format output using a custom template")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@with_engine
def ls(engine: Engine, filters: tuple[str, ...], fmt: str | None, quiet: bool) -> None:
    """List volumes."""
    from lamina.cli.output import format_rows
    volumes = engine.volumes.list()
    users = _users(engine) if filters else {}
    for spec in filters:
        key, _, value = spec.partition("=")
        if key == "dangling":
            want = value.lower() in ("1", "true")
            volumes = [v for v in volumes if (v.name not in users) == want]
        elif key == "name":
            volumes = [v for v in volumes if value in v.name]
        elif key == "label":
            k, _, val = value.partition("=")
            volumes = [v for v in volumes if k in v.labels and (not val or v.labels[k] == val)]
    rows = [{"Driver": "local", "Name": v.name, "Mountpoint": str(v.mountpoint), "Scope": "local",
             "CreatedAt": v.created_at, "Labels": ",".join(f"{k}={x}" for k, x in v.labels.items())}
            for v in volumes]
    out = format_rows(rows, fmt, [(HEADERS[c], c) for c in ("Driver", "Name")], headers=HEADERS,
                      quiet_key="Name" if quiet else None)
    if out:
        echo(out.rstrip("\n"))


@command.command("inspect", context_settings=CTX)
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
@with_engine
def inspect(engine: Engine, names: tuple[str, ...], fmt: str | None) -> None:
    """Display detailed information on one or more volumes."""
    from lamina.cli.commands.inspect import render_objects
    from lamina.errors import VolumeNotFound
    objects, missing = [], []
    for name in names:
        try:
            objects.append(engine.volumes.get(name).to_inspect())
        except VolumeNotFound:
            missing.append(name)
    if objects or not fmt:
        echo(render_objects(objects, fmt).rstrip("\n"))
    for name in missing:
        echo(f"Error: get {name}: no such volume", err=True)
    if missing:
        raise SystemExit(1)


@command.command("rm", context_settings=CTX)
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@with_engine
def rm(engine: Engine, names: tuple[str, ...], force: bool) -> None:
    """Remove one or more volumes."""
    from lamina.cli.commands.kill import each
    users = _users(engine)
    each(names, lambda name: engine.volumes.remove(name, users=users.get(name, []), force=force))


@command.command("prune", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=k=v')")
@with_engine
def prune(engine: Engine, all_: bool, force: bool, filters: tuple[str, ...]) -> None:
    """Remove unused local volumes."""
    from lamina.cli.commands.system import render_prune
    from lamina.cli.prunefilter import parse_prune_filters
    chosen = parse_prune_filters(filters, until=False)
    if not force and not click.confirm("WARNING! This will remove anonymous local volumes not used by at "
                                       "least one container.\nAre you sure you want to continue?", default=False):
        return
    echo(render_prune(engine.system.prune_volumes(all_volumes=all_, filters=chosen)))
