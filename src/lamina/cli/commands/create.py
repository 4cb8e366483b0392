"""``lamina create [OPTIONS] IMAGE [COMMAND] [ARG...]``, and the docker-run options ``run`` shares.

Must not hold business logic: it turns flags into a ``ContainerSpec``. Options stop at the
first positional (IMAGE), as docker's do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.containers import ContainerSpec
    from lamina.engine.engine import Engine

CONTEXT = {"allow_interspersed_args": False, "help_option_names": ["--help"]}

_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("-e", "--env", "env", multiple=True, help="Set environment variables"),
    click.option("--env-file", multiple=True, type=click.Path(dir_okay=False),
                 help="Read in a file of environment variables"),
    click.option("-w", "--workdir", help="Working directory inside the container"),
    click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    click.option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image"),
    click.option("-h", "--hostname", help="Container host name"),
    click.option("--name", help="Assign a name to the container"),
    click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached"),
    click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY"),
    click.option("--read-only", is_flag=True, help="Mount the container's root filesystem as read only"),
    click.option("--network", "--net", "network", default="default",
                 help="Connect a container to a network (none, host)"),
    click.option("-m", "--memory", help="Memory limit"),
    click.option("--cpus", type=float, help="Number of CPUs"),
    click.option("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)"),
    click.option("-v", "--volume", "volumes", multiple=True, help="Bind mount a volume"),
    click.option("--mount", "mounts", multiple=True, help="Attach a filesystem mount to the container"),
    click.option("--tmpfs", multiple=True, help="Mount a tmpfs directory"),
    click.option("--privileged", is_flag=True, help="Give extended privileges to this container"),
    click.option("--cap-add", multiple=True, help="Add Linux capabilities"),
    click.option("--cap-drop", multiple=True, help="Drop Linux capabilities"),
    click.option("--ulimit", multiple=True, help="Ulimit options (name=soft[:hard])"),
    click.option("--shm-size", help="Size of /dev/shm"),
    click.option("--stop-signal", help="Signal to stop the container"),
    click.option("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container"),
    click.option("--cgroup-parent", help="Optional parent cgroup for the container"),
    click.option("--oom-score-adj", type=int, help="Tune host's OOM preferences (-1000 to 1000)"),
    click.option("--security-opt", multiple=True, help="Security options (no-new-privileges)"),
]


def container_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with the options ``create`` and ``run`` share."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def _host_env(items: list[str]) -> list[str]:
    """"KEY" alone takes the host's value (dropped when unset), as docker does."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def _env_files(paths: tuple[str, ...]) -> list[str]:
    from lamina.errors import InvalidOption
    out: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise InvalidOption(f"open {path}: {exc.strerror}") from None
        out += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return _host_env(out)


def _ulimits(items: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    from lamina.errors import InvalidOption
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        soft, _, hard = value.partition(":")
        try:
            out[name] = (int(soft), int(hard or soft))
        except ValueError:
            raise InvalidOption(f"invalid ulimit argument: {item}") from None
    return out


def _volume_requests(volumes: tuple[str, ...], mounts: tuple[str, ...], tmpfs: tuple[str, ...]) -> list[Any]:
    if not (volumes or mounts or tmpfs):
        return []  # the volumes module stays off the plain ``run`` path
    from lamina.container.volumes import VolumeRequest, parse_mount, parse_volume
    requests = [parse_volume(v) for v in volumes] + [parse_mount(m) for m in mounts]
    for item in tmpfs:
        dest, _, opts = item.partition(":")
        requests.append(VolumeRequest(kind="tmpfs", destination=dest, options=tuple(o for o in opts.split(",") if o)))
    return requests


def _size(text: str) -> int:
    from lamina.cli.humanize import parse_size  # only when a size flag was given
    return parse_size(text)


def build_spec(image: str, command: tuple[str, ...], opts: dict[str, Any], *,
               auto_remove: bool = False) -> ContainerSpec:
    """The ``ContainerSpec`` for docker-run flags (``opts`` as click passed them)."""
    from lamina.container.ocispec import RunOptions
    from lamina.engine.containers import ContainerSpec
    from lamina.errors import InvalidOption
    network = {"default": "private", "bridge": "private", "none": "none", "host": "host"}.get(opts["network"])
    if network is None:
        raise InvalidOption(f"network {opts['network']} not found (lamina supports none and host)")
    entrypoint = None if opts["entrypoint"] is None else ([opts["entrypoint"]] if opts["entrypoint"] else [])
    options = RunOptions(
        args=tuple(command), entrypoint=entrypoint,
        env=tuple(_env_files(opts["env_file"]) + _host_env(list(opts["env"]))),
        workdir=opts["workdir"], user=opts["user"], hostname=opts["hostname"], tty=opts["tty"],
        read_only=opts["read_only"], network=network,  # type: ignore[arg-type]
        memory=_size(opts["memory"]) if opts["memory"] else None, cpus=opts["cpus"],
        pids_limit=opts["pids_limit"], privileged=opts["privileged"], cap_add=tuple(opts["cap_add"]),
        cap_drop=tuple(opts["cap_drop"]), ulimits=_ulimits(opts["ulimit"]),
        cgroup_parent=opts["cgroup_parent"], oom_score_adj=opts["oom_score_adj"],
        no_new_privileges=any(s.startswith("no-new-privileges") and not s.endswith("false")
                              for s in opts["security_opt"]),
        shm_size=_size(opts["shm_size"]) if opts["shm_size"] else 64 * 1024 * 1024)
    return ContainerSpec(image=image, options=options,
                         volumes=_volume_requests(opts["volumes"], opts["mounts"], opts["tmpfs"]),
                         name=opts["name"], auto_remove=auto_remove, interactive=opts["interactive"],
                         stop_signal=opts["stop_signal"], stop_timeout=opts["stop_timeout"])


@click.command("create", context_settings=CONTEXT)
@container_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@with_engine
def command(engine: Engine, image: str, command: tuple[str, ...], **opts: Any) -> None:
    """Create a new container."""
    from lamina.cli.main import engine_errors_exit
    engine_errors_exit(125)
    container = engine.containers.create(build_spec(image, command, opts))
    echo(container.id)
