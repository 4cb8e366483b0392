"""OCI runtime adapters: the Runtime protocol and the crun/runc CLI adapter.

Must not know about images, layers or drivers (see ``lamina.runtime.base``).
"""

from lamina.runtime.base import Runtime, RuntimeState, RuntimeStatus, Stdio
from lamina.runtime.crun import CrunRuntime, find_runtime_binary

__all__ = ["CrunRuntime", "Runtime", "RuntimeState", "RuntimeStatus", "Stdio", "find_runtime_binary"]
