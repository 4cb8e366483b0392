"""save/load: round trips, peer interop (skopeo, umoci), and damaged archives."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from lamina.testing import probes

needs_skopeo = pytest.mark.skipif(probes.tool("skopeo") is not None, reason=str(probes.tool("skopeo")))
needs_umoci = pytest.mark.skipif(probes.tool("umoci") is not None, reason=str(probes.tool("umoci")))


def _members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_save_is_docker_archive_and_oci_layout(lamina, busybox: str, tmp_path: Path):
    out = tmp_path / "bb.tar"
    lamina.ok("save", "-o", str(out), "busybox")
    names = _members(out)
    for required in ("manifest.json", "index.json", "oci-layout", "repositories"):
        assert required in names
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert manifest[0]["Config"] == f"blobs/sha256/{busybox[7:]}"
    ann = index["manifests"][0]["annotations"]
    assert ann["io.containerd.image.name"] == "docker.io/library/busybox:latest"


def test_save_is_deterministic(lamina, busybox: str, tmp_path: Path):
    lamina.ok("save", "-o", str(tmp_path / "a.tar"), "busybox")
    lamina.ok("save", "-o", str(tmp_path / "b.tar"), "busybox")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive", "oci-dir"])
def test_round_trip_keeps_ids(lamina, busybox: str, tmp_path: Path, fmt: str):
    target = tmp_path / ("bb-dir" if fmt == "oci-dir" else "bb.tar")
    before = json.loads(lamina.ok("inspect", "busybox"))[0]
    lamina.ok("save", "--format", fmt, "-o", str(target), "busybox")
    lamina.ok("rmi", "busybox")
    out = lamina.ok("load", "-i", str(target))
    assert "Loaded image: busybox:latest" in out
    after = json.loads(lamina.ok("inspect", "busybox"))[0]
    assert after["Id"] == before["Id"] and after["RootFS"] == before["RootFS"]
    assert after["Descriptor"]["digest"] == before["Descriptor"]["digest"]


def test_load_from_stdin(lamina, busybox: str, tmp_path: Path):
    data = subprocess.run(
        [*lamina_cmd(lamina), "save", "busybox"], capture_output=True, check=True).stdout
    lamina.ok("rmi", "busybox")
    assert "Loaded image: busybox:latest" in lamina.ok("load", input=data)


def lamina_cmd(lamina) -> list[str]:
    import sys
    return [sys.executable, "-m", "lamina", "--root", str(lamina.root), "--storage-driver", lamina.driver]


@needs_skopeo
def test_skopeo_reads_what_lamina_saved(lamina_copy, busybox_tar: Path, tmp_path: Path):
    image = lamina_copy.ok("import", str(busybox_tar), "busybox").strip()
    out = tmp_path / "bb.tar"
    lamina_copy.ok("save", "-o", str(out), "busybox")
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{out}"],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["Layers"] and info["Os"] == "linux"
    oci = tmp_path / "oci-copy"
    subprocess.run(["skopeo", "copy", f"docker-archive:{out}", f"oci:{oci}:bb"], check=True,
                   capture_output=True)
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci:{oci}:bb"],
                                       capture_output=True, text=True, check=True).stdout)
    assert config["rootfs"]["diff_ids"] == json.loads(
        lamina_copy.ok("inspect", "--format", "{{json .RootFS.Layers}}", image))


@needs_umoci
def test_umoci_unpacks_lamina_oci_layout(lamina_copy, busybox_tar: Path, tmp_path: Path):
    lamina_copy.ok("import", str(busybox_tar), "busybox")
    layout = tmp_path / "layout"
    lamina_copy.ok("save", "--format", "oci-dir", "-o", str(layout), "busybox")
    # umoci wants a plain tag as ref name; our index uses "latest"
    res = subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(tmp_path / "bundle")],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr  # umoci checks every diff_id while unpacking
    assert (tmp_path / "bundle" / "rootfs" / "bin" / "busybox").exists()


@needs_skopeo
def test_lamina_loads_what_skopeo_wrote(lamina_copy, busybox_tar: Path, tmp_path: Path):
    lamina_copy.ok("import", str(busybox_tar), "busybox")
    lamina_copy.ok("save", "--format", "oci-dir", "-o", str(tmp_path / "src"), "busybox")
    for transport, dest in [("docker-archive", f"{tmp_path}/s.tar:skopeo/bb:1"),
                            ("oci-archive", f"{tmp_path}/o.tar:skopeo/oci:2")]:
        subprocess.run(["skopeo", "copy", f"oci:{tmp_path}/src:latest", f"{transport}:{dest}"],
                       check=True, capture_output=True)
    fresh = type(lamina_copy)(tmp_path / "fresh", "copy")
    assert "skopeo/bb:1" in fresh.ok("load", "-i", str(tmp_path / "s.tar"))
    fresh.ok("load", "-i", str(tmp_path / "o.tar"))
    assert fresh.ok("images", "-q")


def _corrupt_blob(src: Path, dst: Path, pick) -> None:
    with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else None  # type: ignore[union-attr]
            if data is not None and pick(m, data):
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            tout.addfile(m, io.BytesIO(data) if data is not None else None)


def test_load_rejects_flipped_blob_and_stays_clean(lamina_copy, busybox_tar: Path, tmp_path: Path):
    lamina_copy.ok("import", str(busybox_tar), "busybox")
    lamina_copy.ok("save", "-o", str(tmp_path / "ok.tar"), "busybox")
    _corrupt_blob(tmp_path / "ok.tar", tmp_path / "bad.tar",
                  lambda m, d: m.name.startswith("blobs/") and m.size > 100000)
    fresh = type(lamina_copy)(tmp_path / "fresh", "copy")
    res = fresh("load", "-i", str(tmp_path / "bad.tar"))
    assert res.code == 1 and "digest mismatch" in res.err
    assert fresh.ok("images", "-q") == ""
    assert list((fresh.root / "oci" / "blobs" / "sha256").iterdir()) == []


def test_load_rejects_truncated_archive(lamina_copy, busybox_tar: Path, tmp_path: Path):
    lamina_copy.ok("import", str(busybox_tar), "busybox")
    lamina_copy.ok("save", "-o", str(tmp_path / "ok.tar"), "busybox")
    data = (tmp_path / "ok.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2])
    fresh = type(lamina_copy)(tmp_path / "fresh", "copy")
    res = fresh("load", "-i", str(tmp_path / "cut.tar"))
    assert res.code == 1
    assert fresh.ok("images", "-q") == ""


def test_load_legacy_docker_archive_checks_config_name(lamina_copy, tmp_path: Path):
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("hello")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
    import hashlib
    diff = "sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    cfg_hex = hashlib.sha256(config).hexdigest()
    archive = tmp_path / "legacy.tar"
    with tarfile.open(archive, "w") as t:
        for name, data in [(f"{cfg_hex}.json", config), ("abc/layer.tar", layer.getvalue()),
                           ("manifest.json", json.dumps([{"Config": f"{cfg_hex}.json",
                                                          "RepoTags": ["legacy:1"],
                                                          "Layers": ["abc/layer.tar"]}]).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    assert "Loaded image: legacy:1" in lamina_copy.ok("load", "-i", str(archive))
    assert lamina_copy.ok("inspect", "--format", "{{.Id}}", "legacy:1").strip() == f"sha256:{cfg_hex}"


def test_save_unknown_image_writes_nothing(lamina_copy, tmp_path: Path):
    res = lamina_copy("save", "-o", str(tmp_path / "x.tar"), "nosuch")
    assert res.code == 1 and "no such image" in res.err
    assert not (tmp_path / "x.tar").exists()
    shutil.rmtree(tmp_path / "root", ignore_errors=True)
