"""OCI runtime adapters: the Runtime protocol and the crun/runc CLI adapter.

Must not know about images, layers or drivers (see ``lamina.runtime.protocol``). ``Runtime`` is
loaded on first use: the protocol needs ``typing``, which ``run``'s start-up path does without.
"""

from __future__ import annotations

from lamina.runtime.base import RuntimeState, RuntimeStatus, Stdio
from lamina.runtime.crun import CrunRuntime, find_runtime_binary

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lamina.runtime.protocol import Runtime


def __getattr__(name: str) -> object:
    if name == "Runtime":
        from lamina.runtime.protocol import Runtime
        return Runtime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CrunRuntime", "Runtime", "RuntimeState", "RuntimeStatus", "Stdio", "find_runtime_binary"]
