#!/usr/bin/env python3
"""Where ``lamina run --rm IMAGE true`` spends its wall time: phases from strace, hot spots from cProfile.

    .venv/bin/python bench/profile_run.py [--root DIR] [-n 5] [--image localhost/bbase:1]

Phases (median of n, from ``strace -f -tt --seccomp-bpf`` of a few marker syscalls, so tracing costs
little): interpreter start + imports (execve -> first flock), create (-> crun execve), crun (-> crun's
exit_group), cleanup (-> lamina's last flock unlock), interpreter exit (-> exit_group). Also the
syscall counts that matter (fsync, execve of helpers such as ldconfig) and cProfile's top functions
by own time outside the import system. A root holding the image is needed (run.py's, or make one
with ``lamina --root DIR import /var/tmp/anchors/bbase.tar localhost/bbase:1``). Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

LAMINA = Path(sys.executable).with_name("lamina")
TRACE = "execve,vfork,clone,clone3,exit_group,flock,fsync,fdatasync,mount,umount2"
LINE = re.compile(r"^(\d+)\s+(\d\d:\d\d:\d\d\.\d+)\s+(\w+)\((.*)")


def stamp(text: str) -> float:
    return datetime.strptime(text, "%H:%M:%S.%f").timestamp()


def trace_once(argv: list[str]) -> list[tuple[int, float, str, str]]:
    with tempfile.NamedTemporaryFile(prefix="bench-strace-", suffix=".txt") as out:
        subprocess.run(["strace", "-f", "-tt", "--seccomp-bpf", "-e", f"trace={TRACE}", "-o", out.name, *argv],
                       check=True, capture_output=True)
        lines = Path(out.name).read_text().splitlines()
    events = []
    for line in lines:
        m = LINE.match(line)
        if m and "resumed>" not in line:
            events.append((int(m.group(1)), stamp(m.group(2)), m.group(3), m.group(4)))
    return events


def phases(events: list[tuple[int, float, str, str]]) -> dict[str, float]:
    """Seconds per phase; the lamina process is the first pid, crun the first execve of /usr/bin/crun."""
    me, t0 = events[0][0], events[0][1]
    mine = [e for e in events if e[0] == me]
    first_lock = next(t for _, t, c, _ in mine if c == "flock")
    crun = next((p, t) for p, t, c, a in events if c == "execve" and "crun" in a.split(",")[0])
    crun_exit = max(t for p, t, c, _ in events if p != me and c == "exit_group")
    last_unlock = max(t for _, t, c, a in mine if c == "flock" and "LOCK_UN" in a)
    end = next(t for _, t, c, _ in mine if c == "exit_group")
    return {"start+imports": first_lock - t0, "create+mount": crun[1] - first_lock,
            "crun (all its children)": crun_exit - crun[1], "cleanup": last_unlock - crun_exit,
            "interpreter exit": end - last_unlock, "total": end - t0}


def counts(events: list[tuple[int, float, str, str]]) -> dict[str, int]:
    me = events[0][0]
    mine = [e for e in events if e[0] == me]
    helpers = [a.split(",")[0] for p, _, c, a in events if c == "execve" and p != me]
    return {"fsync (lamina)": sum(c in ("fsync", "fdatasync") for _, _, c, _ in mine),
            "flock (lamina)": sum(c == "flock" for _, _, c, _ in mine),
            "mount/umount (lamina)": sum(c in ("mount", "umount2") for _, _, c, _ in mine),
            "helper execs": len(helpers), **{f"exec {h}": helpers.count(h) for h in sorted(set(helpers))}}


def hot_functions(argv: list[str], k: int) -> str:
    """cProfile of one in-process run, top k by own time, import machinery left out."""
    import lamina.cli.main as cli_main

    def no_fast_exit(code: int = 0) -> None:   # main() ends in os._exit, which would end us too
        raise SystemExit(code)

    cli_main._fast_exit = no_fast_exit   # type: ignore[assignment]
    lamina_main = cli_main.main
    prof = cProfile.Profile()
    sys.argv = ["lamina", *argv[1:]]
    prof.enable()
    try:
        lamina_main()
    except SystemExit:
        pass
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(r"^(?!.*(importlib|<frozen)).*$", k)
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True)
    p.add_argument("-n", type=int, default=5)
    p.add_argument("--image", default="localhost/bbase:1")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    argv = [str(LAMINA), "--root", args.root, "--storage-driver", "overlay", "run", "--rm", "--network", "none",
            args.image, "true"]
    runs = [trace_once(argv) for _ in range(args.n + 1)][1:]
    table = [phases(e) for e in runs]
    print(f"phases of `lamina run --rm {args.image} true`, median of {args.n} (ms):")
    for name in table[0]:
        print(f"  {name:26} {1000 * statistics.median(t[name] for t in table):7.1f}")
    print("syscalls and helper processes of one run:")
    for name, value in counts(runs[0]).items():
        print(f"  {name:26} {value:7d}")
    print(hot_functions(argv, args.top))


if __name__ == "__main__":
    main()
