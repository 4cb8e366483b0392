"""``lamina build [OPTIONS] PATH | -``: docker's build flags -> ``engine.build.build``; progress rendering.

Progress goes to stderr: BuildKit's plain lines when stderr is not a terminal (or ``--progress
plain``), a live rich view on a terminal (rich imported only then). ``-q`` prints only the image id
on stdout. Errors: a failed step prints BuildKit's block (the step, its last output lines, the
Dockerfile lines) before the one-line error; the exit code is 1, as ``docker build``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lamina.cli.context import echo, with_engine
from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.build.progress import ProgressEvent
    from lamina.engine.engine import Engine


def _pairs(values: tuple[str, ...], *, from_env: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in values:
        name, eq, value = item.partition("=")
        out[name] = value if eq else (os.environ.get(name) if from_env else "")
    return out


class PlainSink:
    """BuildKit plain lines on stderr."""

    def __init__(self) -> None:
        from lamina.build.progress import PlainRenderer
        self.renderer = PlainRenderer()

    def __call__(self, event: ProgressEvent) -> None:
        for line in self.renderer.render(event):
            click.echo(line, err=True)

    def close(self) -> None:
        pass


class TtySink:
    """A live view: one line per vertex with its time, the running step's last output lines."""

    def __init__(self) -> None:
        import time

        from rich.console import Console
        from rich.live import Live
        self.time = time
        self.started = time.monotonic()
        self.console = Console(stderr=True)
        self.rows: dict[int, list[Any]] = {}
        self.logs: list[str] = []
        self.live = Live(console=self.console, refresh_per_second=8, transient=False)
        self.live.start()

    def __call__(self, event: ProgressEvent) -> None:
        from lamina.build.progress import EventKind
        row = self.rows.setdefault(event.vertex, [event.name, "", 0.0])
        if event.kind == EventKind.START:
            self.logs = []
        elif event.kind == EventKind.LOG:
            self.logs = [*self.logs[-5:], event.text]
        elif event.kind in (EventKind.CACHED, EventKind.DONE, EventKind.ERROR):
            row[1] = {"cached": "CACHED", "done": "", "error": "ERROR"}[event.kind.value]
            row[2] = event.elapsed
            self.logs = [] if event.kind != EventKind.ERROR else self.logs
        elif event.kind in (EventKind.EXPLAIN, EventKind.WARNING):
            self.console.print(f"[yellow]{'cache miss' if event.kind == EventKind.EXPLAIN else 'warning'}: "
                               f"{row[0]}: {event.text}[/yellow]", highlight=False)
        self.live.update(self._render())

    def _render(self) -> Any:
        from rich.text import Text
        elapsed = self.time.monotonic() - self.started
        done = sum(1 for r in self.rows.values() if r[1] or r[2])
        text = Text(f"[+] Building {elapsed:.1f}s ({done}/{len(self.rows)})\n", style="bold")
        for name, state, seconds in self.rows.values():
            if name:
                text.append(f" => {state + ' ' if state else ''}{name}  {seconds:.1f}s\n",
                            style="red" if state == "ERROR" else ("blue" if state else ""))
        for line in self.logs:
            text.append(f"    {line}\n", style="dim")
        return text

    def close(self) -> None:
        if self.live.is_started:
            self.live.update(self._render())
            self.live.stop()


def _sink(progress: str, quiet: bool) -> PlainSink | TtySink | None:
    if quiet or progress == "quiet":
        return None
    if progress == "tty" or (progress == "auto" and sys.stderr.isatty()):
        return TtySink()
    return PlainSink()


def _print_failure(exc: LaminaError, dockerfile: Path) -> None:
    from lamina.errors import BuildFailed, DockerfileError
    if isinstance(exc, BuildFailed) and exc.step:
        lines = ["------", f" > {exc.step}:", *exc.output, "------"]
        click.echo("\n".join(lines), err=True)
    if isinstance(exc, BuildFailed | DockerfileError) and exc.location:
        _print_source(dockerfile, exc.file, exc.location)


def _print_source(path: Path, file: str, location: tuple[int, int]) -> None:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return
    if not text:
        return
    first, last = location
    lo, hi = max(1, first - 2), min(len(text), last + 2)
    click.echo(f"{file}:{first}\n--------------------", err=True)
    for n in range(lo, hi + 1):
        mark = ">>>" if first <= n <= last else "   "
        click.echo(f" {n:3d} | {mark} {text[n - 1]}", err=True)
    click.echo("--------------------", err=True)


@click.command("build", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("context")
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag); repeatable")
@click.option("-f", "--file", "file", help="Name of the Dockerfile (default: PATH/Dockerfile)")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables (NAME=VALUE)")
@click.option("--target", help="Set the target build stage to build")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image")
@click.option("--label", "labels", multiple=True, help="Set metadata for an image (KEY=VALUE)")
@click.option("--progress", type=click.Choice(["auto", "plain", "tty", "quiet"]), default="auto",
              show_default=True, help="Type of progress output")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success")
@click.option("--iidfile", help="Write the image ID to the file")
@click.option("--network", default="default", show_default=True, help="Networking mode for RUN: default, none, host")
@click.option("--cache-explain", is_flag=True, help="Explain every cache miss (which input changed)")
@with_engine
def command(engine: Engine, context: str, tags: tuple[str, ...], file: str | None, build_args: tuple[str, ...],
            target: str | None, no_cache: bool, labels: tuple[str, ...], progress: str, quiet: bool,
            iidfile: str | None, network: str, cache_explain: bool) -> None:
    """Build an image from a Dockerfile."""
    sink = _sink(progress, quiet)
    stdin_context = context == "-"
    if not stdin_context and not os.path.isdir(context):
        raise click.UsageError(f'unable to prepare context: path "{context}" not found')
    df_path = Path(file) if file else Path(context, "Dockerfile")
    try:
        result = engine.build.build(
            context=None if stdin_context else Path(context),
            context_tar=sys.stdin.buffer if stdin_context else None,
            dockerfile_path=Path(file) if file else None, tags=tags,
            build_args=_pairs(build_args, from_env=True), target=target, no_cache=no_cache,
            labels={k: v or "" for k, v in _pairs(labels, from_env=False).items()},
            network=network, cache_explain=cache_explain, progress=sink)
    except LaminaError as exc:
        if sink is not None:
            sink.close()
        _print_failure(exc, df_path)
        raise
    finally:
        if sink is not None:
            sink.close()
    if iidfile:
        Path(iidfile).write_text(result.image_id)
    if quiet:
        echo(result.image_id)
