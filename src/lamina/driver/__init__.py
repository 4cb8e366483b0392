"""Storage drivers: layer id -> directory tree, merged mounts, diffs.

Must not parse manifests or image configs. ``select`` is the only constructor the
engine calls; it tries, rather than guesses, whether a driver works here. ``Driver`` (the
protocol) is loaded on first use: it needs ``typing``, which ``run``'s start-up path does without.
"""

from __future__ import annotations

from pathlib import Path

from lamina._internal.logs import get_logger
from lamina.errors import DriverNotSupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lamina.driver.protocol import Driver

log = get_logger(__name__)

DRIVERS = ("overlay", "btrfs", "copy")


def select(name: str, home: Path) -> Driver:
    """The driver *name* ("auto", "overlay", "btrfs" or "copy") with its data under ``<home>/<driver>``.

    "auto" tries overlay (a real probe mount in *home*), then btrfs when *home* is on
    btrfs, then copy. An explicit name that does not work here raises
    ``DriverNotSupported(driver, reason)`` carrying the probe's error.
    """
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    if name == "auto":
        return _auto(home)
    if name == "overlay":
        from lamina.driver.overlay import OverlayDriver
        from lamina.driver.probe import cached_probe_overlay
        return OverlayDriver(home, support=cached_probe_overlay(home))
    if name == "btrfs":
        from lamina.driver.btrfs import BtrfsDriver
        from lamina.driver.probe import probe_btrfs
        reason = probe_btrfs(home)
        if reason:
            raise DriverNotSupported("btrfs", reason)
        return BtrfsDriver(home)
    if name == "copy":
        from lamina.driver.copy import CopyDriver
        return CopyDriver(home)
    raise DriverNotSupported(name, f"unknown storage driver (choose auto, {', '.join(DRIVERS)})")


def _auto(home: Path) -> Driver:
    for candidate in DRIVERS:
        try:
            return select(candidate, home)
        except DriverNotSupported as exc:
            log.info("storage driver not usable driver=%s reason=%s", candidate, exc.reason)
    raise DriverNotSupported("auto", "no storage driver works here")  # copy always works: unreachable


def __getattr__(name: str) -> object:
    if name == "Driver":
        from lamina.driver.protocol import Driver
        return Driver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DRIVERS", "Driver", "DriverNotSupported", "select"]
