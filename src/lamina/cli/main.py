"""The ``lamina`` entry point: pick the parser, configure logging, map errors to exit codes.

The only place (with the API error middleware) that catches ``Exception``. Must not contain
business logic. A plain ``lamina [--root DIR] run|commit …`` is parsed without click
(``lamina.cli.flags``: click's import is a fifth of a ``run --rm``); everything else, and
anything that parser declines (``--help``, a bad flag), goes to the click group in
``lamina.cli.app``, whose verbs are imported only when run.

Exit codes follow docker: 0 on success; 1 when a command fails; ``run``/``create``/``start``
exit 125 for engine errors, 126 when the command cannot be invoked, 127 when it is not found,
else the container's own status.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from lamina.engine.engine import Engine

_state = {"engine_error_exit": 1}
LOG_LEVELS = ("debug", "info", "warning", "error", "fatal")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map lamina errors to docker's exit codes."""
    from lamina.errors import ContainerCommandError, InternalError, LaminaError
    args = list(sys.argv[1:] if argv is None else argv)
    fast = fast_command(args)
    try:
        code = fast() if fast is not None else _click_main(args)
    except ContainerCommandError as exc:
        code = _fail(f"lamina: {exc}", exc.exit_code)
    except InternalError as exc:
        _print_traceback()
        code = _fail(f"Error: internal error (a bug in lamina): {exc}", _error_exit())
    except LaminaError as exc:
        code = _fail(f"Error: {exc}", _error_exit())
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # a bug: show where, exit like docker
        _print_traceback()
        code = _fail(f"Error: internal error (a bug in lamina): {exc!r}", _error_exit())
    _fast_exit(code)


def _click_main(args: list[str]) -> int:
    """Run the click group; its usage errors exit 125 like docker's."""
    import click

    from lamina.cli.app import cli
    try:
        cli.main(args=args, prog_name="lamina", standalone_mode=False)
    except SystemExit as exc:  # run/start/wait end with the container's status
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        raise
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        return _usage_error(exc)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 130
    return 0


def _usage_error(exc: click.UsageError) -> int:
    """docker's codes: no command prints the help (0), an unknown one exits 1, bad flags 125."""
    ctx = exc.ctx
    at_root = ctx is not None and ctx.parent is None
    if ctx is not None and at_root and exc.format_message() == "Missing command.":
        sys.stdout.write(ctx.get_help() + "\n")
        return 0
    exc.show()
    return 1 if at_root and exc.format_message().startswith("No such command") else 125


def fast_command(args: Sequence[str]) -> Callable[[], int] | None:
    """``[global flags] run|commit …`` parsed without click, as a callable; None for anything else."""
    parsed = _global_flags(args)
    if parsed is None:
        return None
    flags, rest = parsed
    verb = rest[0] if rest else ""
    body = _fast_run(rest[1:]) if verb == "run" else _fast_commit(rest[1:]) if verb == "commit" else None
    if body is None:
        return None

    def command() -> int:
        from lamina.engine.config import EngineConfig
        from lamina.engine.engine import Engine
        configure_logging(flags.get("log_level", "warning"), "debug" in flags)
        if verb == "run":
            engine_errors_exit(125)
        config = EngineConfig.from_env(root=flags.get("root"), storage_driver=flags.get("storage_driver"))
        with Engine(config) as engine:
            return body(engine)
    return command


def _fast_run(args: Sequence[str]) -> Callable[[Engine], int] | None:
    from lamina.cli import runflags
    parsed = runflags.parse_run(args)
    if parsed is None:
        return None
    return lambda engine: runflags.run(engine, parsed.image, parsed.command, parsed.opts)


def _fast_commit(args: Sequence[str]) -> Callable[[Engine], int] | None:
    from lamina.cli import commitflags
    parsed = commitflags.parse_commit(args)
    if parsed is None:
        return None
    opts, container, repository = parsed
    return lambda engine: commitflags.commit(engine, container, repository, opts)


def _global_flags(args: Sequence[str]) -> tuple[dict[str, str], list[str]] | None:
    """The root command's flags (as ``lamina.cli.app.cli`` takes them) and what follows them."""
    names = {"--root": "root", "--storage-driver": "storage_driver", "-l": "log_level", "--log-level": "log_level"}
    flags: dict[str, str] = {}
    rest = list(args)
    while rest and rest[0].startswith("-"):
        token = rest.pop(0)
        name, eq, value = token.partition("=")
        if token in ("-D", "--debug"):
            flags["debug"] = "1"
            continue
        if name not in names or (not eq and not rest):
            return None
        flags[names[name]] = value if eq else rest.pop(0)
    if flags.get("log_level", "warning") not in LOG_LEVELS:
        return None
    return flags, rest


def configure_logging(level_name: str, debug: bool) -> None:
    """``-l LEVEL`` / ``-D``: lamina's log lines go to stderr as ``LEVEL[logger] message``."""
    from lamina._internal import logs
    levels = {"debug": logs.DEBUG, "info": logs.INFO, "warning": logs.WARNING, "error": logs.ERROR, "fatal": 50}
    level = logs.DEBUG if debug else levels[level_name.lower()]
    logs.configure(level, format="%(levelname)s[%(name)s] %(message)s", stream=sys.stderr)


def _print_traceback() -> None:
    import traceback
    traceback.print_exc()


def _fail(message: str, code: int) -> int:
    sys.stderr.write(message + "\n")
    return code


def _fast_exit(code: int = 0) -> None:
    """Exit with *code* without the interpreter's teardown (~40 ms of module and object finalisation).

    Everything that matters is already done: the Engine was closed, output is flushed here,
    logging handlers are flushed by ``logging.shutdown`` (when logging was used at all).
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    os._exit(code)


def engine_errors_exit(code: int) -> None:
    """Called by run/create/start/exec: engine errors then exit *code* (docker: 125) instead of 1."""
    _state["engine_error_exit"] = code


def _error_exit() -> int:
    return _state["engine_error_exit"]
