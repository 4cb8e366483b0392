"""EngineConfig: where lamina keeps its state and which driver/runtime it uses.

The one place that reads environment variables (LAMINA_ROOT, LAMINA_RUNROOT,
LAMINA_STORAGE_DRIVER, LAMINA_CONFIG_DIR, SOURCE_DATE_EPOCH). Everything
below receives explicit values. Must not print or exit.
"""

from __future__ import annotations

import os
from pathlib import Path

from lamina._internal.records import Record, field, record

DEFAULT_ROOT = Path("/var/lib/lamina")
DEFAULT_RUNROOT = Path("/run/lamina")


@record
class EngineConfig(Record):
    """Explicit engine settings; ``from_env`` fills the gaps from the environment."""

    root: Path = DEFAULT_ROOT
    runroot: Path | None = None
    storage_driver: str = "auto"
    runtime: str | None = None
    config_dir: Path = field(default_factory=lambda: Path.home() / ".docker")
    source_date_epoch: int | None = None
    insecure_registries: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, *, root: str | os.PathLike[str] | None = None,
                 storage_driver: str | None = None, runtime: str | None = None) -> EngineConfig:
        env = os.environ
        root_path = Path(root or env.get("LAMINA_ROOT") or DEFAULT_ROOT).absolute()
        runroot = env.get("LAMINA_RUNROOT")
        epoch = env.get("SOURCE_DATE_EPOCH")
        insecure = tuple(x for x in env.get("LAMINA_INSECURE_REGISTRIES", "").split(",") if x)
        return cls(
            root=root_path,
            runroot=Path(runroot) if runroot else None,
            storage_driver=storage_driver or env.get("LAMINA_STORAGE_DRIVER") or "auto",
            runtime=runtime or env.get("LAMINA_RUNTIME"),
            config_dir=Path(env.get("LAMINA_CONFIG_DIR") or env.get("DOCKER_CONFIG")
                            or Path.home() / ".docker"),
            source_date_epoch=int(epoch) if epoch and epoch.isdigit() else None,
            insecure_registries=insecure,
        )

    @property
    def run_dir(self) -> Path:
        """Per-boot state (crun's state, mount refcounts): a tmpfs in production, under root otherwise."""
        if self.runroot is not None:
            return self.runroot
        if self.root == DEFAULT_ROOT:
            return DEFAULT_RUNROOT
        return self.root / "run"
