"""pull/push/login/logout through the CLI against Debian's docker-registry on loopback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lamina.testing import probes
from lamina.testing.cli import Lamina

pytest_plugins = ["registry_fixtures"]

pytestmark = pytest.mark.skipif(probes.registry() is not None, reason=str(probes.registry()))


@pytest.fixture
def pushed(tmp_path: Path, registry_server, busybox_tar: Path) -> tuple[Lamina, str, str]:
    cli = Lamina(tmp_path / "src", "copy")
    image = cli.ok("import", "-c", 'CMD ["/bin/sh"]', str(busybox_tar), "busybox").strip()
    name = f"{registry_server.host}/lamina/busybox:1"
    cli.ok("tag", "busybox", name)
    out = cli.ok("push", name)
    assert f"The push refers to repository [{registry_server.host}/lamina/busybox]" in out
    assert out.strip().splitlines()[-1].startswith("1: digest: sha256:")
    return cli, name, image


def test_push_then_pull_into_empty_store(tmp_path: Path, pushed):
    _, name, image = pushed
    dst = Lamina(tmp_path / "dst", "copy")
    out = dst.ok("pull", name)
    assert "Digest: sha256:" in out and out.strip().endswith(name)
    info = json.loads(dst.ok("inspect", name))[0]
    assert info["Id"] == image
    assert info["RepoDigests"] and info["RepoDigests"][0].split("@")[0] == name.rsplit(":", 1)[0]
    # pulling again finds everything present
    assert "Pull complete" not in dst.ok("pull", name)


def test_second_push_says_layer_exists(pushed):
    src, name, _ = pushed
    out = src.ok("push", name)
    assert "Layer already exists" in out


def test_pull_by_digest(tmp_path: Path, pushed):
    src, name, image = pushed
    digest = json.loads(src.ok("inspect", name))[0]["RepoDigests"][0].split("@")[1]
    dst = Lamina(tmp_path / "dst", "copy")
    by_digest = f"{name.rsplit(':', 1)[0]}@{digest}"
    dst.ok("pull", by_digest)
    assert dst.ok("inspect", "--format", "{{.Id}}", by_digest).strip() == image


def test_pull_unknown_tag_names_reference(tmp_path: Path, registry_server):
    dst = Lamina(tmp_path / "dst", "copy")
    res = dst("pull", f"{registry_server.host}/nope/nothing:9")
    assert res.code == 1 and "nope/nothing" in res.err
    assert dst.ok("images", "-q") == ""


def test_login_logout_basic_auth(tmp_path: Path, basic_registry, busybox_tar: Path):
    cli = Lamina(tmp_path / "r", "copy")
    env = {"LAMINA_CONFIG_DIR": str(tmp_path / "cfg")}
    cli.ok("import", str(busybox_tar), "bb", env=env)
    name = f"{basic_registry.host}/private/bb:1"
    cli.ok("tag", "bb", name, env=env)
    res = cli("push", name, env=env)
    assert res.code == 1 and "auth" in res.err.lower()
    bad = cli("login", "-u", basic_registry.username, "--password-stdin", basic_registry.host,
              input=b"wrong\n", env=env)
    assert bad.code == 1
    out = cli.ok("login", "-u", basic_registry.username, "--password-stdin", basic_registry.host,
                 input=f"{basic_registry.password}\n".encode(), env=env)
    assert "Login Succeeded" in out
    assert basic_registry.host in json.loads((tmp_path / "cfg" / "config.json").read_text())["auths"]
    assert "digest: sha256:" in cli.ok("push", name, env=env)
    assert "Removing login credentials" in cli.ok("logout", basic_registry.host, env=env)


@pytest.mark.skipif(probes.tool("skopeo") is not None, reason=str(probes.tool("skopeo")))
def test_skopeo_copies_what_lamina_pushed(tmp_path: Path, pushed):
    _, name, _ = pushed
    res = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--config", f"docker://{name}"],
                         capture_output=True, text=True, check=True)
    assert json.loads(res.stdout)["rootfs"]["type"] == "layers"


def _raw_manifest(name: str) -> dict:
    res = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{name}"],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


@pytest.mark.skipif(probes.tool("skopeo") is not None, reason=str(probes.tool("skopeo")))
@pytest.mark.skipif(probes.crun() is not None, reason=str(probes.crun()))
def test_push_compression_zstd_pulls_back_the_same_image(tmp_path: Path, pushed):
    src, name, image = pushed
    blobs_before = sorted(p.name for p in (src.root / "oci" / "blobs" / "sha256").iterdir())
    zname = name.replace(":1", ":zstd")
    src.ok("tag", name, zname)
    out = src.ok("push", "--compression", "zstd", zname)
    assert out.strip().splitlines()[-1].startswith("zstd: digest: sha256:")
    manifest = _raw_manifest(zname)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+zstd"]
    # the re-encoded blob served this push only; the store holds what it held before
    assert sorted(p.name for p in (src.root / "oci" / "blobs" / "sha256").iterdir()) == blobs_before
    dst = Lamina(tmp_path / "dst", "copy")
    dst.ok("pull", zname)
    assert dst.ok("inspect", "--format", "{{.Id}}", zname).strip() == image   # same config, same diffIDs
    assert dst.ok("run", "--rm", zname, "echo", "unpacked").strip() == "unpacked"
    # gzip, as stored: the image's own manifest is pushed as it is, nothing re-encoded
    plain = src.ok("push", name).strip().splitlines()[-1]
    assert src.ok("push", "--compression", "gzip", name).strip().splitlines()[-1] == plain


def test_run_pulls_a_missing_image_unless_told_not_to(tmp_path: Path, pushed):
    _, name, _ = pushed
    never = Lamina(tmp_path / "never", "copy")("run", "--rm", "--pull", "never", name, "true")
    assert never.code == 125 and "no such image" in never.err
    dst = Lamina(tmp_path / "dst", "copy")
    res = dst("run", "--rm", name, "echo", "hi")
    assert (res.code, res.out) == (0, "hi\n")
    assert f"Unable to find image '{name}' locally" in res.err and "Status: Downloaded newer image" in res.err
    again = dst("run", "--rm", name, "true")
    assert again.code == 0 and "Unable to find" not in again.err   # present now: no pull
    always = dst("create", "--pull", "always", name)
    assert always.code == 0 and "Pulling from" in always.err
