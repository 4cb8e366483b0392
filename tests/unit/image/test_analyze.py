"""Waste analysis, provenance and image diff over hand-made layer tars (pure; no store, no driver)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest

from lamina.image.analyze import (
    LayerInfo,
    Thresholds,
    analyze,
    breaches,
    layer_infos,
    provenance,
)
from lamina.image.compare import compare, final_view
from lamina.testing.trees import Dir, File, Hardlink, Opaque, Spec, Symlink, Whiteout, layer_tar


def run(*layers: Spec) -> object:
    return analyze((LayerInfo(diff_id=f"d{i}", created_by=f"RUN step {i}"), io.BytesIO(layer_tar(spec)))
                   for i, spec in enumerate(layers))


def view(layers: Sequence[Spec], hash_from: int = 0) -> object:
    return final_view((io.BytesIO(layer_tar(s)) for s in layers), hash_from=hash_from)


def test_path_written_three_times_wastes_two_copies_once_each():
    # dive#684 counts all three copies; the last one is visible and is not waste
    a = run({"f": File(b"a" * 100)}, {"f": File(b"b" * 200)}, {"f": File(b"c" * 300)})
    assert a.stored_bytes == 600
    assert a.wasted_bytes == 300
    assert [(w.writer, w.hider, w.size, w.how) for w in a.wastes] == [(0, 1, 100, "overwritten"),
                                                                     (1, 2, 200, "overwritten")]
    assert a.efficiency == pytest.approx(300 / 600)
    assert [r.count("C") for r in a.layers] == [0, 1, 1]


def test_deleted_directory_attributes_each_file_to_its_writer():
    a = run({"d": Dir(), "d/x": File(b"1" * 10)}, {"d/y": File(b"2" * 20)}, {"d": Whiteout()})
    assert a.wasted_bytes == 30
    assert sorted((w.path, w.writer, w.hider) for w in a.wastes) == [("/d/x", 0, 2), ("/d/y", 1, 2)]
    assert a.pairs == {(0, 2): 10, (1, 2): 20}
    assert a.layers[2].changes[0].kind == "D" and a.layers[2].changes[0].size == 30
    assert a.layers[0].wasted_written == 10 and a.layers[2].wasted_hidden == 30
    assert a.efficiency == 0.0


def test_whiteout_of_missing_path_is_ignored_and_counts_nothing():
    a = run({"a": File(b"x")}, {"nope": Whiteout()})
    assert a.layers[1].changes == () and a.wasted_bytes == 0 and a.efficiency == 1.0


def test_opaque_dir_hides_lower_children_but_not_its_own_layer():
    a = run({"d": Dir(), "d/old": File(b"o" * 7)}, [("d", Dir(opaque=True)), ("d/new", File(b"n" * 5))])
    assert [(w.path, w.how) for w in a.wastes] == [("/d/old", "deleted")]
    kinds = {(c.kind, c.path) for c in a.layers[1].changes}
    assert ("D", "/d/old") in kinds and ("A", "/d/new") in kinds
    assert a.visible_bytes == 5


def test_opaque_marker_applies_before_entries_in_any_tar_order():
    a = run({"d/old": File(b"o")}, [("d/new", File(b"n")), ("d", Opaque())])
    assert [w.path for w in a.wastes] == ["/d/old"]


def test_file_replaced_by_directory_and_hardlinks_add_no_bytes():
    a = run({"p": File(b"x" * 9), "t": File(b"t" * 4)}, {"p/child": File(b"y"), "h": Hardlink("t")})
    assert [(w.path, w.size) for w in a.wastes] == [("/p", 9)]
    assert a.layers[1].size == 1


def test_user_wasted_percent_and_thresholds():
    a = run({"base": File(b"b" * 1000)}, {"u": File(b"u" * 100)}, {"u": File(b"v" * 100)})
    assert a.user_bytes == 200 and a.user_wasted_percent == pytest.approx(0.5)
    assert breaches(a, Thresholds(lowest_efficiency=0.9, highest_user_wasted_percent=0.6)) == []
    failed = breaches(a, Thresholds(lowest_efficiency=0.95, highest_wasted_bytes=99,
                                    highest_user_wasted_percent=0.1))
    assert [f.split(":")[0] for f in failed] == ["lowestEfficiency", "highestWastedBytes",
                                                  "highestUserWastedPercent"]


def test_empty_image_is_fully_efficient():
    a = run()
    assert a.efficiency == 1.0 and a.user_wasted_percent == 0.0 and a.wasted_bytes == 0


def test_provenance_last_writer_earlier_layers_and_removal_via_parent():
    a = run({"etc/passwd": File(b"root")}, {"etc/passwd": File(b"root\nuser")}, {"other": File(b"o")},
            {"etc": Whiteout()}, {"etc/passwd": File(b"again")})
    p = provenance(a, "etc/passwd")
    assert p.path == "/etc/passwd" and p.present
    assert [(e.layer, e.kind, e.via) for e in p.events] == [(0, "A", ""), (1, "C", ""), (3, "D", "/etc"),
                                                            (4, "A", "")]
    assert p.last_writer is not None and p.last_writer.layer == 4
    assert [e.layer for e in p.earlier_writers] == [0, 1]
    missing = provenance(a, "/nope")
    assert missing.events == () and not missing.present and missing.last_writer is None


def test_layer_infos_skip_empty_history_entries():
    history = [{"created_by": "ADD x"}, {"created_by": "ENV a=b", "empty_layer": True}, {"created_by": "RUN y"}]
    assert [i.created_by for i in layer_infos(history, ["d0", "d1", "d2"])] == ["ADD x", "RUN y", ""]


def test_compare_reports_added_changed_deleted_with_sizes():
    base = {"etc": Dir(), "etc/passwd": File(b"root"), "bin": Dir(), "bin/sh": File(b"sh" * 10),
            "gone": Dir(), "gone/f": File(b"123")}
    a = view([base])
    b = view([base, {"etc/passwd": File(b"root\nme"), "new": Dir(), "new/f": File(b"12345"), "gone": Whiteout()}])
    diff = [(d.kind, d.path, d.before, d.after) for d in compare(a, b)]
    assert diff == [("C", "/etc", 4, 7), ("C", "/etc/passwd", 4, 7), ("D", "/gone", 3, 0),
                    ("A", "/new", 0, 5), ("A", "/new/f", 0, 5)]


def test_compare_ignores_rewrites_with_identical_content_and_sees_metadata():
    a = view([{"f": File(b"x"), "l": Symlink("f")}])
    same = view([{"f": File(b"x"), "l": Symlink("f")}])
    assert compare(a, same) == []
    other = view([{"f": File(b"x", mode=0o755), "l": Symlink("g")}])
    assert [(d.kind, d.path) for d in compare(a, other)] == [("C", "/f"), ("C", "/l")]


def test_compare_shared_prefix_needs_no_content_hash():
    base = {"f": File(b"same")}
    a = view([base], hash_from=1)     # nothing hashed: layer 0 is shared
    b = view([base, {"g": File(b"new")}], hash_from=1)
    assert [(d.kind, d.path) for d in compare(a, b, shared=1)] == [("A", "/g")]
