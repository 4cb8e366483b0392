"""Capability probes that *try* each operation once per process and cache the answer.

Must not be imported by non-test code. Each probe returns ``None`` when the
capability works, or a one-line reason why not (used as a pytest skip reason).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile


@functools.cache
def root() -> str | None:
    return None if os.geteuid() == 0 else "needs root"


@functools.cache
def overlay() -> str | None:
    if root():
        return "needs root for overlay mounts"
    with tempfile.TemporaryDirectory(prefix="lamina-probe-") as tmp:
        for d in ("l", "u", "w", "m"):
            os.mkdir(os.path.join(tmp, d))
        opts = f"lowerdir={tmp}/l,upperdir={tmp}/u,workdir={tmp}/w"
        res = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, f"{tmp}/m"],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            return f"needs overlayfs: {res.stderr.strip() or 'mount failed'}"
        subprocess.run(["umount", f"{tmp}/m"], check=False)
    return None


@functools.cache
def mknod() -> str | None:
    if root():
        return "needs root for mknod"
    with tempfile.TemporaryDirectory(prefix="lamina-probe-") as tmp:
        try:
            os.mknod(os.path.join(tmp, "c"), 0o600 | 0o020000, os.makedev(0, 0))
        except OSError as exc:
            return f"needs mknod: {exc}"
    return None


@functools.cache
def trusted_xattr() -> str | None:
    if root():
        return "needs root for trusted.* xattrs"
    with tempfile.TemporaryDirectory(prefix="lamina-probe-", dir="/var/tmp") as tmp:
        try:
            os.setxattr(tmp, "trusted.overlay.opaque", b"y")
        except OSError as exc:
            return f"needs trusted xattrs: {exc}"
    return None


def _binary(name: str, *candidates: str) -> str | None:
    for c in (name, *candidates):
        path = shutil.which(c)
        if path:
            return path
    return None


@functools.cache
def crun_path() -> str | None:
    return _binary("crun")


@functools.cache
def crun() -> str | None:
    path = crun_path()
    if path is None:
        return "needs crun (apt-get install crun)"
    res = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return None if res.returncode == 0 else f"crun --version failed: {res.stderr.strip()}"


@functools.cache
def busybox_path() -> str | None:
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(p):
            res = subprocess.run(["file", "-b", p], capture_output=True, text=True, check=False)
            if "dynamically" not in res.stdout:
                return p
    return None


def busybox() -> str | None:
    return None if busybox_path() else "needs a static busybox (apt-get install busybox-static)"


@functools.cache
def registry_path() -> str | None:
    return _binary("docker-registry", "registry")


def registry() -> str | None:
    return None if registry_path() else "needs docker-registry (apt-get install docker-registry)"


def tool(name: str) -> str | None:
    return None if shutil.which(name) else f"needs {name} (not installed)"


@functools.cache
def bridge_network() -> str | None:
    """The default bridge network works: root, the CNI plugins, iptables and a bridge device."""
    if root():
        return "needs root for the bridge network"
    from lamina.errors import NetworkFailed
    from lamina.network.cni import plugin_dir
    try:
        plugin_dir()
    except NetworkFailed as exc:
        return str(exc)
    if not shutil.which("iptables"):
        return "needs iptables (apt-get install iptables)"
    name = f"lmprobe{os.getpid() % 100000}"
    res = subprocess.run(["ip", "link", "add", name, "type", "bridge"], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return f"needs bridge devices: {res.stderr.strip()}"
    subprocess.run(["ip", "link", "del", name], check=False)
    return None


ALL = {"root": root, "overlay": overlay, "mknod": mknod, "trusted_xattr": trusted_xattr,
       "crun": crun, "busybox": busybox, "registry": registry, "bridge_network": bridge_network}
