"""``lamina info``: system-wide information in docker's layout (counts, storage driver, runtime, root)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine

if TYPE_CHECKING:
    from lamina.engine.engine import Engine


def gather(engine: Engine) -> dict[str, Any]:
    """The facts ``info`` prints; a runtime that cannot be found is reported, not raised."""
    from lamina import __version__
    from lamina.errors import LaminaError
    containers = engine.containers.list()
    running = sum(1 for _, state in containers if state.running)
    try:
        runtime = engine.containers.runtime_version()
    except LaminaError as exc:
        runtime = f"unavailable ({exc})"
    uname = os.uname()
    return {
        "ServerVersion": __version__, "Containers": len(containers), "ContainersRunning": running,
        "Images": len(engine.images.list()), "Driver": engine.driver.name,
        "DriverStatus": engine.driver.status(), "DefaultRuntime": runtime, "LaminaRootDir": str(engine.root),
        "KernelVersion": uname.release, "OperatingSystem": uname.sysname, "Architecture": uname.machine,
        "NCPU": os.cpu_count(),
    }


@click.command("info", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
@with_engine
def command(engine: Engine, fmt: str | None) -> None:
    """Display system-wide information."""
    data = gather(engine)
    if fmt:
        from lamina.cli.gotemplate import Template
        echo(Template(fmt).render(data))
        return
    echo(f"Server Version: {data['ServerVersion']}")
    echo(f"Containers: {data['Containers']}\n Running: {data['ContainersRunning']}")
    echo(f"Images: {data['Images']}")
    echo(f"Storage Driver: {data['Driver']}")
    for key, value in data["DriverStatus"]:
        echo(f" {key}: {value}")
    echo(f"Default Runtime: {data['DefaultRuntime']}")
    echo(f"Kernel Version: {data['KernelVersion']}")
    echo(f"Architecture: {data['Architecture']}\nCPUs: {data['NCPU']}")
    echo(f"Lamina Root Dir: {data['LaminaRootDir']}")
