"""lamina: a daemonless container image and runtime engine.

The public API for users (``lamina.Engine`` and friends); lamina's own modules never import
from here, only from the submodules, so this façade cannot create import cycles.

    >>> import lamina
    >>> with lamina.Engine(lamina.EngineConfig(root=Path("/tmp/r"))) as engine:
    ...     image = engine.images.import_tarball(open("rootfs.tar", "rb"), source_name="rootfs.tar",
    ...                                          reference="busybox:latest")
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Digest", "Engine", "EngineConfig", "LaminaError", "Reference", "__version__", "errors"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lamina import errors
    from lamina.digest import Digest
    from lamina.engine.config import EngineConfig
    from lamina.engine.engine import Engine
    from lamina.errors import LaminaError
    from lamina.reference import Reference

_LAZY = {
    "Digest": ("lamina.digest", "Digest"),
    "Engine": ("lamina.engine.engine", "Engine"),
    "EngineConfig": ("lamina.engine.config", "EngineConfig"),
    "LaminaError": ("lamina.errors", "LaminaError"),
    "Reference": ("lamina.reference", "Reference"),
    "errors": ("lamina.errors", None),
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so ``import lamina`` stays cheap for the CLI."""
    entry = _LAZY.get(name)
    if entry is None:
        raise AttributeError(f"module 'lamina' has no attribute {name!r}")
    import importlib
    module = importlib.import_module(entry[0])
    return module if entry[1] is None else getattr(module, entry[1])
