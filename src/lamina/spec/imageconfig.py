"""``ImageConfig`` (OCI image config / Docker ``container.image.v1``) and its parts.

Must not do I/O or JSON: decoding and encoding live in ``lamina.spec.codec``.

Field names are Python's; the JSON names are docker's (``User``, ``ExposedPorts``,
``diff_ids`` …) and are kept in ``JSON_NAMES`` maps next to each class. ``None``
means "absent" (JSON ``null`` decodes to ``None`` too, as in Go). Timestamps
stay RFC 3339 strings: Go writes nanoseconds, which ``datetime`` would lose,
and the config digest (the image id) depends on the exact text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lamina.digest import Digest


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthConfig:
    """Docker's ``Healthcheck``; durations are nanoseconds as in Go's ``time.Duration``."""

    test: Sequence[str] | None = None
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    JSON_NAMES: ClassVar[dict[str, str]] = {
        "test": "Test", "interval": "Interval", "timeout": "Timeout",
        "start_period": "StartPeriod", "start_interval": "StartInterval", "retries": "Retries"}

    def __post_init__(self) -> None:
        if self.test is not None and not isinstance(self.test, tuple):
            object.__setattr__(self, "test", tuple(self.test))


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """The runtime defaults of an image (docker's ``container.Config`` subset in ``config``)."""

    hostname: str | None = None
    domainname: str | None = None
    user: str | None = None
    attach_stdin: bool | None = None
    attach_stdout: bool | None = None
    attach_stderr: bool | None = None
    exposed_ports: Mapping[str, Mapping[str, Any]] | None = None
    tty: bool | None = None
    open_stdin: bool | None = None
    stdin_once: bool | None = None
    env: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    healthcheck: HealthConfig | None = None
    args_escaped: bool | None = None
    image: str | None = None
    volumes: Mapping[str, Mapping[str, Any]] | None = None
    working_dir: str | None = None
    entrypoint: Sequence[str] | None = None
    network_disabled: bool | None = None
    mac_address: str | None = None
    on_build: Sequence[str] | None = None
    labels: Mapping[str, str] | None = None
    stop_signal: str | None = None
    stop_timeout: int | None = None
    shell: Sequence[str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    JSON_NAMES: ClassVar[dict[str, str]] = {
        "hostname": "Hostname", "domainname": "Domainname", "user": "User",
        "attach_stdin": "AttachStdin", "attach_stdout": "AttachStdout", "attach_stderr": "AttachStderr",
        "exposed_ports": "ExposedPorts", "tty": "Tty", "open_stdin": "OpenStdin", "stdin_once": "StdinOnce",
        "env": "Env", "cmd": "Cmd", "healthcheck": "Healthcheck", "args_escaped": "ArgsEscaped",
        "image": "Image", "volumes": "Volumes", "working_dir": "WorkingDir", "entrypoint": "Entrypoint",
        "network_disabled": "NetworkDisabled", "mac_address": "MacAddress", "on_build": "OnBuild",
        "labels": "Labels", "stop_signal": "StopSignal", "stop_timeout": "StopTimeout", "shell": "Shell",
    }

    def __post_init__(self) -> None:
        for name in ("env", "cmd", "entrypoint", "on_build", "shell"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    def env_map(self) -> dict[str, str]:
        """``Env`` as a dict (later entries win, as when docker applies them)."""
        pairs = (item.partition("=") for item in self.env or ())
        return {key: value for key, _, value in pairs}


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """One ``history`` entry; ``empty_layer`` entries have no diff_id."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    JSON_NAMES: ClassVar[dict[str, str]] = {
        "created": "created", "created_by": "created_by", "author": "author",
        "comment": "comment", "empty_layer": "empty_layer"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RootFS:
    """``rootfs``: the uncompressed layer digests (diff_ids), base layer first."""

    diff_ids: Sequence[Digest]
    type: str = "layers"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    JSON_NAMES: ClassVar[dict[str, str]] = {"type": "type", "diff_ids": "diff_ids"}

    def __post_init__(self) -> None:
        if not isinstance(self.diff_ids, tuple):
            object.__setattr__(self, "diff_ids", tuple(self.diff_ids))


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageConfig:
    """An image configuration; its sha256 (over the exact bytes) is the image id."""

    architecture: str
    os: str
    rootfs: RootFS
    created: str | None = None
    author: str | None = None
    variant: str | None = None
    os_version: str | None = None
    os_features: Sequence[str] | None = None
    config: ContainerConfig | None = None
    history: Sequence[History] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    JSON_NAMES: ClassVar[dict[str, str]] = {
        "created": "created", "author": "author", "architecture": "architecture", "os": "os",
        "variant": "variant", "os_version": "os.version", "os_features": "os.features",
        "config": "config", "rootfs": "rootfs", "history": "history",
    }

    def __post_init__(self) -> None:
        for name in ("history", "os_features"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def container_config(self) -> ContainerConfig:
        """``config``, or an empty ContainerConfig when the image has none."""
        return self.config or ContainerConfig()

    @property
    def diff_ids(self) -> tuple[Digest, ...]:
        return tuple(self.rootfs.diff_ids)
