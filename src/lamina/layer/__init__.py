"""Layer tar semantics: IDs, compression, deterministic tar writing, safe applying, whiteouts, changes.

Must not mount anything, know drivers, or touch the blob store (ARCHITECTURE §2).
Import from the submodules; this package re-exports nothing:

* ``lamina.layer.ids``          chain_id(diff_ids), EMPTY_LAYER_DIFF_ID
* ``lamina.layer.compression``  Compression, sniff, open_decompressed, CompressingWriter, LayerDigests
* ``lamina.layer.tarwriter``    write_tree(root, out, epoch=), write_changes(root, changes, out, epoch=, upper=)
* ``lamina.layer.apply``        apply_layer(stream, target, whiteouts=, same_owner=) -> ApplyResult
* ``lamina.layer.whiteout``     WhiteoutFormat, OCIWhiteouts, OverlayWhiteouts, LiteralWhiteouts, constants
* ``lamina.layer.changes``      ChangeKind, Change, changes_between(old, new), overlay_changes(upper, lowers)
* ``lamina.layer.pathsafety``   normalize, RootWalker (symlink-safe resolution inside a root)
"""
