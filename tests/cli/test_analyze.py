"""``lamina analyze`` (human, --json, --path, --ci) and ``lamina image diff`` through the CLI."""

from __future__ import annotations

import io
import json
import os

import pytest

from lamina.engine.config import EngineConfig
from lamina.engine.engine import Engine
from lamina.image import mutate
from lamina.reference import Reference
from lamina.spec.codec import canonical_json
from lamina.testing.cli import Lamina
from lamina.testing.trees import Dir, File, Spec, Whiteout, layer_tar

BIG = os.urandom(40_000)


def _image(engine: Engine, layers: list[tuple[Spec, str]], tag: str) -> None:
    stack, created = [], mutate.timestamp(0)
    config = mutate.empty_config(created)
    for spec, created_by in layers:
        stack.append(engine.images.store_layer(io.BytesIO(layer_tar(spec)), stack[-1] if stack else None))
        config = mutate.append_layer(config, stack[-1].diff_id, created=created, created_by=created_by)
    engine.image_store.add(canonical_json(config), stack, tags=[str(Reference.parse(tag))])


@pytest.fixture
def cli(lamina_copy: Lamina) -> Lamina:
    """wasteful:1 writes /big, chowns it (a second copy), then deletes it; lean:1 is the same base alone."""
    base = ({"etc": Dir(), "etc/passwd": File(b"root:x:0:0\n"), "big": File(BIG)}, "ADD rootfs /")
    with Engine(EngineConfig(root=lamina_copy.root, storage_driver="copy")) as engine:
        _image(engine, [base, ({"big": File(BIG, uid=1000)}, "RUN chown 1000 /big"),
                        ({"etc/passwd": File(b"root:x:0:0\nme:x:1000:1000\n")}, "RUN useradd me"),
                        ({"big": Whiteout()}, "RUN rm /big")], "wasteful:1")
        _image(engine, [base], "lean:1")
    return lamina_copy


def test_human_report_counts_each_wasted_copy_once(cli: Lamina):
    out = cli.ok("analyze", "wasteful:1")
    assert "Image: wasteful:1" in out
    # two copies of /big, not three (dive#684), and the first /etc/passwd
    assert f"wasted bytes: {2 * len(BIG) + 11} " in out
    assert "layer 0 'ADD rootfs /' → layer 1 'RUN chown 1000 /big'" in out
    assert "layer 1 'RUN chown 1000 /big' → layer 3 'RUN rm /big'" in out
    rows = [line.split() for line in out.splitlines()]
    assert ["2", "80kB", "/big"] in rows
    assert "A /etc/passwd" in cli.ok("analyze", "--changes", "wasteful:1")


def test_json_report(cli: Lamina):
    data = json.loads(cli.ok("analyze", "--json", "wasteful:1"))
    assert data["wastedBytes"] == 2 * len(BIG) + len(b"root:x:0:0\n")
    assert [layer["createdBy"] for layer in data["layers"]] == ["ADD rootfs /", "RUN chown 1000 /big",
                                                                "RUN useradd me", "RUN rm /big"]
    assert {(w["path"], w["writer"], w["hider"], w["how"]) for w in data["wasted"]} == {
        ("/big", 0, 1, "overwritten"), ("/big", 1, 3, "deleted"), ("/etc/passwd", 0, 2, "overwritten")}
    assert data["efficiency"] == pytest.approx(1 - data["wastedBytes"] / data["storedBytes"])


def test_path_provenance(cli: Lamina):
    out = cli.ok("analyze", "wasteful:1", "--path", "/etc/passwd")
    assert "last written by layer 2" in out and "RUN useradd me" in out
    assert "layer 0: added" in out
    gone = cli.ok("analyze", "wasteful:1", "--path", "big")
    assert "not present (removed)" in gone and "layer 3: removed" in gone
    data = json.loads(cli.ok("analyze", "wasteful:1", "--path", "/etc/passwd", "--json"))
    assert [(e["layer"], e["kind"]) for e in data["events"]] == [(0, "A"), (2, "C")]
    assert "not in any layer" in cli.ok("analyze", "lean:1", "--path", "/nope")


def test_ci_mode_exit_codes(cli: Lamina):
    res = cli("analyze", "--ci", "wasteful:1")
    assert res.code == 1 and "FAIL: lowestEfficiency" in res.out and "Result:FAIL" in res.out
    res = cli("analyze", "--ci", "lean:1")
    assert res.code == 0 and "Result:PASS" in res.out
    res = cli("analyze", "--ci", "--lowest-efficiency", "0", "--highest-user-wasted-percent", "100",
              "--highest-wasted-bytes", "10MB", "wasteful:1")
    assert res.code == 0 and "PASS: highestWastedBytes" in res.out
    res = cli("analyze", "--ci", "--lowest-efficiency", "0", "--highest-user-wasted-percent", "100",
              "--highest-wasted-bytes", "50kB", "wasteful:1")
    assert res.code == 1 and "FAIL: highestWastedBytes" in res.out
    assert cli("analyze", "--ci", "--highest-wasted-bytes", "lots", "lean:1").code == 1


def test_image_diff(cli: Lamina):
    out = cli.ok("image", "diff", "lean:1", "wasteful:1").splitlines()
    assert out == [f"D /big (-{len(BIG) // 1000}kB)", "C /etc (11B -> 26B)", "C /etc/passwd (11B -> 26B)"]
    assert cli.ok("image", "diff", "--no-size", "wasteful:1", "lean:1").splitlines() == \
        ["A /big", "C /etc", "C /etc/passwd"]
    data = json.loads(cli.ok("image", "diff", "--format", "json", "lean:1", "lean:1"))
    assert data == []


def test_diff_verb_takes_two_images(tmp_path, busybox_tar):
    from lamina.testing.cli import Lamina
    cli = Lamina(tmp_path / "r", "copy")
    cli.ok("import", str(busybox_tar), "a:1")
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("only-in-b")
        info.size = 3
        t.addfile(info, io.BytesIO(b"hey"))
    cli.ok("import", "-", "b:1", input=buf.getvalue())
    out = cli.ok("diff", "a:1", "b:1")
    assert "A /only-in-b" in out and "D /bin" in out
