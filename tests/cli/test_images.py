"""Black-box tests of the image verbs: import, images, tag, rmi, history, inspect."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 946684800
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_import_gives_oci_ids(lamina, busybox_tar: Path, busybox: str):
    raw = busybox_tar.read_bytes()
    info = json.loads(lamina.ok("inspect", "busybox"))[0]
    assert info["Id"] == busybox
    # the diffID is the sha256 of the uncompressed tar, exactly
    assert info["RootFS"] == {"Type": "layers", "Layers": ["sha256:" + hashlib.sha256(raw).hexdigest()]}
    assert info["RepoTags"] == ["busybox:latest"]
    assert info["Config"]["Cmd"] == ["/bin/sh"]
    assert info["Architecture"] and info["Os"] == "linux"
    assert info["Size"] >= len(Path("/bin/busybox").read_bytes())
    assert info["GraphDriver"]["Name"] == lamina.driver


def test_image_id_is_config_digest(lamina, busybox: str):
    info = json.loads(lamina.ok("inspect", "busybox"))[0]
    # the image ID is stable under SOURCE_DATE_EPOCH: same input, same ID in a fresh root
    assert busybox.startswith("sha256:") and len(busybox) == 71
    assert info["Id"] == busybox


def test_import_reproducible_with_source_date_epoch(tmp_path, busybox_tar: Path):
    from lamina.testing.cli import Lamina
    ids = []
    for n in range(2):
        cli = Lamina(tmp_path / f"r{n}", "copy")
        ids.append(cli.ok("import", str(busybox_tar), "bb", env={"SOURCE_DATE_EPOCH": "0"}).strip())
    assert ids[0] == ids[1]


def test_images_table_and_quiet(lamina, busybox: str):
    out = lamina.ok("images")
    header, row = out.splitlines()[:2]
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert row.split()[:3] == ["busybox", "latest", busybox[7:19]]
    assert lamina.ok("images", "-q").split() == [busybox[7:19]]
    assert lamina.ok("images", "-q", "--no-trunc").split() == [busybox]


def test_images_format_templates(lamina, busybox: str):
    assert lamina.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").strip() == \
        f"busybox:latest {busybox[7:19]}"
    table = lamina.ok("images", "--format", "table {{.Repository}}\t{{.Tag}}").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG"] and table[1].split() == ["busybox", "latest"]
    line = json.loads(lamina.ok("images", "--format", "json").splitlines()[0])
    assert line["Repository"] == "busybox" and line["ID"] == busybox[7:19]


def test_inspect_format(lamina, busybox: str):
    assert lamina.ok("inspect", "--format", "{{.Id}}", "busybox").strip() == busybox
    rootfs = json.loads(lamina.ok("inspect", "--format", "{{json .RootFS}}", "busybox"))
    assert rootfs["Type"] == "layers"
    assert "PATH=" in lamina.ok("inspect", "--format", "{{.Config.Env}}", "busybox")


def test_tag_and_rmi(lamina, busybox: str):
    lamina.ok("tag", "busybox", "localhost:5000/a/b:t")
    names = lamina.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert sorted(names) == ["busybox:latest", "localhost:5000/a/b:t"]
    # by ID with two tags: refused without -f
    res = lamina("rmi", busybox[7:19])
    assert res.code == 1 and "multiple repositories" in res.err
    # by tag: only untags
    assert lamina.ok("rmi", "localhost:5000/a/b:t").strip() == "Untagged: localhost:5000/a/b:t"
    out = lamina.ok("rmi", "busybox")
    assert "Untagged: busybox:latest" in out and f"Deleted: {busybox}" in out
    assert lamina.ok("images", "-q") == ""


def test_rmi_removes_blobs_and_layers(lamina, busybox: str):
    lamina.ok("rmi", "busybox")
    blobs = list((lamina.root / "oci" / "blobs" / "sha256").iterdir())
    assert blobs == []
    assert lamina.ok("images", "-q") == ""


def test_shared_base_stored_once(lamina, busybox: str, busybox_tar: Path):
    other = lamina.ok("import", "-c", "ENV A=1", str(busybox_tar), "withenv:1").strip()
    assert other != busybox
    a = json.loads(lamina.ok("inspect", "--format", "{{json .GraphDriver}}", "withenv:1"))
    b = json.loads(lamina.ok("inspect", "--format", "{{json .GraphDriver}}", "busybox"))
    assert a == b  # same ChainID, same directory on disk
    layer_rows = (lamina.root / "storage" / lamina.driver)
    assert layer_rows.exists()
    lamina.ok("rmi", "withenv:1")  # the shared layer stays for busybox
    assert json.loads(lamina.ok("inspect", "busybox"))[0]["Id"] == busybox
    assert lamina.ok("history", "-q", "busybox").split() == [busybox[7:19]]


def test_history(lamina, busybox: str):
    out = lamina.ok("history", "busybox").splitlines()
    assert out[0].split()[:2] == ["IMAGE", "CREATED"]
    assert out[1].startswith(busybox[7:19])
    assert "lamina import" in out[1]
    assert lamina.ok("history", "-q", "busybox").split() == [busybox[7:19]]
    assert lamina.ok("history", "--no-trunc", "--format", "{{.ID}}", "busybox").strip() == busybox


def test_import_change_and_message(lamina, busybox_tar: Path):
    lamina.ok("import", "-c", "ENV FOO=bar", "-c", "WORKDIR /app", "-c", 'ENTRYPOINT ["/bin/echo"]',
              "-c", "EXPOSE 80", "-c", "LABEL a=b", "-m", "hello", str(busybox_tar), "x:1")
    cfg = json.loads(lamina.ok("inspect", "--format", "{{json .Config}}", "x:1"))
    assert "FOO=bar" in cfg["Env"] and cfg["WorkingDir"] == "/app"
    assert cfg["Entrypoint"] == ["/bin/echo"] and cfg["ExposedPorts"] == {"80/tcp": {}}
    assert cfg["Labels"] == {"a": "b"}
    assert lamina.ok("inspect", "--format", "{{.Comment}}", "x:1").strip() == "hello"


def test_import_gzip_and_stdin(lamina_copy):
    data = _tar({"hello.txt": b"hi\n"})
    a = lamina_copy.ok("import", "-", "plain:1", input=data).strip()
    b = lamina_copy.ok("import", "-", "gz:1", input=gzip.compress(data)).strip()
    diff = {json.loads(lamina_copy.ok("inspect", "--format", "{{json .RootFS.Layers}}", n))[0]
            for n in ("plain:1", "gz:1")}
    assert len(diff) == 1 and a and b


@pytest.mark.parametrize("args, code, msg", [
    (["inspect", "nosuch"], 1, "No such object: nosuch"),
    (["rmi", "nosuch"], 1, "no such image"),
    (["tag", "nosuch", "x"], 1, "no such image"),
    (["tag", "busybox", "UPPER"], 1, "must be lowercase"),
    (["history", "nosuch:1"], 1, "no such image"),
    (["import", "/nonexistent.tar"], 1, "/nonexistent.tar"),
    (["images", "--bogus"], 125, "--bogus"),
    (["nosuchverb"], 1, "No such command 'nosuchverb'"),
    (["import", "-c", "FROB x", "/dev/null"], 1, "FROB"),
])
def test_bad_input_errors(lamina_copy, busybox_tar, args, code, msg):
    lamina_copy.ok("import", str(busybox_tar), "busybox")
    before = lamina_copy.ok("images", "-q", "--no-trunc")
    res = lamina_copy(*args)
    assert res.code == code, res
    assert msg in res.err
    assert lamina_copy.ok("images", "-q", "--no-trunc") == before


def test_import_garbage_leaves_store_unchanged(lamina_copy):
    res = lamina_copy("import", "-", "bad:1", input=b"this is not a tar" * 100)
    assert res.code == 1 and "Error" in res.err
    assert lamina_copy.ok("images", "-q") == ""
    assert list((lamina_copy.root / "oci" / "blobs" / "sha256").iterdir()) == []


def test_unknown_layout_version_refused(lamina_copy):
    lamina_copy.root.mkdir(parents=True)
    (lamina_copy.root / "layout-version").write_text("99\n")
    res = lamina_copy("images")
    assert res.code == 1 and "layout-version '99'" in res.err


def test_no_arguments_print_help_and_succeed(lamina_copy):
    res = lamina_copy()
    assert res.code == 0 and "Commands:" in res.out and "run" in res.out
