"""spec.runtime types behave as frozen, keyword-only values (records, not dataclasses, for start-up speed)."""

from __future__ import annotations

import copy
import pickle

import pytest

from lamina._internal.records import FrozenInstanceError
from lamina.spec.runtime import Linux, Process, Root, RuntimeConfig, User


def test_equal_values_are_equal_and_hash_alike() -> None:
    assert Process(args=("a",)) == Process(args=("a",), cwd="/", user=User())
    assert hash(Root(path="r")) == hash(Root(path="r"))
    assert Root(path="r") != Root(path="r", readonly=True)
    assert Root(path="r") != "r"


def test_values_are_frozen_and_slotted() -> None:
    root = Root(path="r")
    with pytest.raises(FrozenInstanceError):
        root.path = "x"  # type: ignore[misc]
    assert not hasattr(root, "__dict__")


def test_keyword_only_with_required_fields_and_fresh_factory_defaults() -> None:
    with pytest.raises(TypeError, match="missing required keyword-only argument: 'path'"):
        Root()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        Root(path="r", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Root("r")  # type: ignore[call-arg]
    assert Linux().sysctl == {} and Linux().sysctl is not Linux().sysctl


def test_repr_copy_and_pickle() -> None:
    cfg = RuntimeConfig(process=Process(args=("a",)), root=Root(path="r"), annotations={"k": "v"})
    assert repr(Root(path="r")) == "Root(path='r', readonly=False)"
    assert copy.deepcopy(cfg) == cfg and pickle.loads(pickle.dumps(cfg)) == cfg
    assert list(cfg.to_dict()) == ["process", "root", "annotations", "ociVersion"]
