import hashlib

import pytest

from lamina.digest import Digest
from lamina.errors import InvalidArgument
from lamina.layer.ids import EMPTY_LAYER_DIFF_ID, chain_id, chain_ids

A = Digest.of_bytes(b"layer a")
B = Digest.of_bytes(b"layer b")
C = Digest.of_bytes(b"layer c")


def test_chain_id_of_one_layer_is_its_diff_id():
    assert chain_id([A]) == A


def test_chain_id_hashes_prefixed_strings():
    ab = hashlib.sha256(f"sha256:{A.hex} sha256:{B.hex}".encode()).hexdigest()
    abc = hashlib.sha256(f"sha256:{ab} sha256:{C.hex}".encode()).hexdigest()
    assert chain_id([A, B]) == Digest("sha256", ab)
    assert chain_id([A, B, C]) == Digest("sha256", abc)


def test_chain_ids_lists_every_prefix():
    assert chain_ids([A, B, C]) == [chain_id([A]), chain_id([A, B]), chain_id([A, B, C])]
    assert chain_ids([]) == []


def test_chain_id_needs_a_layer():
    with pytest.raises(InvalidArgument):
        chain_id([])


def test_empty_layer_diff_id_is_1024_zero_bytes():
    assert Digest.of_bytes(bytes(1024)) == EMPTY_LAYER_DIFF_ID
