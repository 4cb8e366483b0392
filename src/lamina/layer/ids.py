"""Layer identifiers: the ChainID of a stack of DiffIDs (OCI image-spec ``config.md``).

Must not do I/O or know about blobs: it hashes identifier strings only. A DiffID
is the digest of an *uncompressed* layer tar (see ``compression.CompressingWriter``);
a ChainID names a whole stack of layers, bottom first.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.digest import Digest, new_hash
from lamina.errors import InvalidArgument

#: DiffID of the empty layer: a tar made of 1024 zero bytes (two end-of-archive blocks).
EMPTY_LAYER_DIFF_ID = Digest("sha256", "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")


def chain_id(diff_ids: Sequence[Digest]) -> Digest:
    """ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n)).

    The hashed strings are the full ``sha256:<hex>`` forms, as in moby and the
    OCI spec. Raises InvalidArgument for an empty sequence (no layers, no chain).
    """
    if not diff_ids:
        raise InvalidArgument("compute chain id: no diff ids given")
    current = diff_ids[0]
    for diff_id in diff_ids[1:]:
        text = f"{current} {diff_id}".encode()
        current = Digest("sha256", new_hash("sha256", text).hexdigest())
    return current


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """The ChainID of every prefix of *diff_ids*: ``[chain_id(d[:1]), chain_id(d[:2]), …]``."""
    out: list[Digest] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append(Digest("sha256", new_hash("sha256", f"{out[-1]} {diff_id}".encode()).hexdigest()))
    return out
