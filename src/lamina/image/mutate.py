"""New image configs from a base config, appended layers, history rows and ``--change`` lines.

Must not touch the store: it maps config dicts to config dicts (umoci's Mutator, in small).

``--change`` takes the Dockerfile instructions docker's ``import`` and ``commit`` accept:
CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. The
grammar is the Dockerfile's for one line: JSON (exec) form or shell form, ``k=v`` pairs or
the legacy ``ENV k v`` form.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shlex
from collections.abc import Callable, Sequence
from typing import Any

from lamina.digest import Digest
from lamina.errors import InvalidOption

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
         "riscv64": "riscv64", "i686": "386"}


def timestamp(epoch: float | None = None) -> str:
    """RFC 3339 UTC with Go's nanosecond trimming, as image configs carry it."""
    when = dt.datetime.fromtimestamp(epoch, dt.UTC) if epoch is not None else dt.datetime.now(dt.UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{when.microsecond:06d}".rstrip("0")
    return f"{text}.{frac}Z" if frac else f"{text}Z"


def empty_config(created: str) -> dict[str, Any]:
    arch = _ARCH.get(os.uname().machine, os.uname().machine)
    return {"architecture": arch, "os": "linux", "created": created,
            "config": {"Env": [f"PATH={DEFAULT_PATH}"]},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


def append_layer(config: dict[str, Any], diff_id: Digest | None, *, created: str, created_by: str,
                 comment: str | None = None, author: str | None = None) -> dict[str, Any]:
    """A copy of *config* with one history row, and a diff_id unless the row is an empty layer."""
    out = copy.deepcopy(config)
    row: dict[str, Any] = {"created": created, "created_by": created_by}
    if author:
        row["author"] = author
    if comment:
        row["comment"] = comment
    if diff_id is None:
        row["empty_layer"] = True
    else:
        out.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(str(diff_id))
    out.setdefault("history", []).append(row)
    out["created"] = created
    if author:
        out["author"] = author
    return out


def apply_changes(config: dict[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """Apply ``--change`` lines to the ``config`` object of an image config (a copy is returned)."""
    out = copy.deepcopy(config)
    cfg = out.setdefault("config", {})
    for line in changes:
        keyword, _, rest = line.strip().partition(" ")
        handler = _HANDLERS.get(keyword.upper())
        if handler is None:
            raise InvalidOption(f"--change {line!r}: {keyword.upper() or 'empty'} is not a valid change "
                                f"(want one of {', '.join(sorted(_HANDLERS))})")
        if not rest.strip() and keyword.upper() not in ("CMD", "ENTRYPOINT"):
            raise InvalidOption(f"--change {line!r}: {keyword.upper()} requires at least one argument")
        handler(cfg, rest.strip())
    return out


def _command(rest: str) -> list[str]:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def _pairs(rest: str, keyword: str) -> list[tuple[str, str]]:
    words = shlex.split(rest)
    if words and "=" not in words[0]:
        if len(words) < 2:
            raise InvalidOption(f"--change {keyword} {rest}: ENV must have two arguments")
        return [(words[0], rest.split(None, 1)[1] if len(words) > 1 else "")]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidOption(f"--change {keyword} {rest}: {word!r} is not KEY=VALUE")
        pairs.append((key, value))
    return pairs


def _set_env(cfg: dict[str, Any], rest: str) -> None:
    env = list(cfg.get("Env") or [])
    for key, value in _pairs(rest, "ENV"):
        env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
    cfg["Env"] = env


def _set_label(cfg: dict[str, Any], rest: str) -> None:
    labels = dict(cfg.get("Labels") or {})
    labels.update(_pairs(rest, "LABEL"))
    cfg["Labels"] = labels


def _set_expose(cfg: dict[str, Any], rest: str) -> None:
    ports = dict(cfg.get("ExposedPorts") or {})
    for port in rest.split():
        ports[port if "/" in port else f"{port}/tcp"] = {}
    cfg["ExposedPorts"] = ports


def _set_volume(cfg: dict[str, Any], rest: str) -> None:
    vols = dict(cfg.get("Volumes") or {})
    paths = json.loads(rest) if rest.startswith("[") else rest.split()
    for path in paths:
        vols[path] = {}
    cfg["Volumes"] = vols


def _set_onbuild(cfg: dict[str, Any], rest: str) -> None:
    cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), rest]


def _setter(key: str, convert: Callable[[str], Any] = str) -> Callable[[dict[str, Any], str], None]:
    def set_value(cfg: dict[str, Any], rest: str) -> None:
        cfg[key] = convert(rest)
    return set_value


_HANDLERS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "CMD": _setter("Cmd", _command),
    "ENTRYPOINT": _setter("Entrypoint", _command),
    "ENV": _set_env,
    "EXPOSE": _set_expose,
    "LABEL": _set_label,
    "ONBUILD": _set_onbuild,
    "STOPSIGNAL": _setter("StopSignal"),
    "USER": _setter("User"),
    "VOLUME": _set_volume,
    "WORKDIR": _setter("WorkingDir"),
}
