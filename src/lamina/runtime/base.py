"""The state an OCI runtime reports (``RuntimeState``, ``RuntimeStatus``) and the stdio triple.

Must not know about images, layers, drivers or container records. The ``Runtime`` protocol itself
is in ``lamina.runtime.protocol``: ``typing.Protocol`` is not imported on ``run``'s start-up path.
"""

from __future__ import annotations

import enum
from pathlib import Path

from lamina._internal.records import Record, record

Stdio = tuple[int, int, int]


class RuntimeStatus(enum.StrEnum):
    CREATING = "creating"  # the runtime is still setting the container up
    CREATED = "created"    # namespaces ready, process waiting for start
    RUNNING = "running"    # the container process runs
    PAUSED = "paused"      # every process is frozen (cgroup freezer)
    STOPPED = "stopped"    # the process exited; state kept until delete


@record
class RuntimeState(Record):
    id: str
    status: RuntimeStatus
    pid: int  # 0 once stopped
    bundle: Path
