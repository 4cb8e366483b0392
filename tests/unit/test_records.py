"""lamina._internal.records: frozen, slotted values that behave like frozen dataclasses, without them."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from typing import ClassVar

import pytest

from lamina._internal.records import FrozenInstanceError, Record, asdict, field, fields, record, replace


@record
class Inner(Record):
    name: str
    tags: tuple[str, ...] = ()


@record
class Outer(Record):
    LIMIT: ClassVar[int] = 3
    inner: Inner
    items: list[int] = field(default_factory=list)
    extra: dict[str, Inner] = field(default_factory=dict)
    count: int = 0

    def __post_init__(self) -> None:
        if self.count > self.LIMIT:
            raise ValueError("count too large")


@record(kw_only=False)
class Pair(Record):
    left: str
    right: str = "r"


@record
class Child(Inner):
    level: int = 1


def test_fields_defaults_and_fresh_factories() -> None:
    a, b = Outer(inner=Inner(name="x")), Outer(inner=Inner(name="x"))
    assert fields(Outer) == ("inner", "items", "extra", "count") and Outer.LIMIT == 3
    assert a == b and a.items is not b.items and hash(Inner(name="x")) == hash(Inner(name="x"))
    assert a != Outer(inner=Inner(name="x"), count=1) and a != "x"
    assert repr(Inner(name="n")) == "Inner(name='n', tags=())"


def test_keyword_only_unless_asked_and_argument_errors() -> None:
    with pytest.raises(TypeError, match="missing required keyword-only argument: 'name'"):
        Inner()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        Inner(name="x", nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes 0 positional"):
        Inner("x")  # type: ignore[misc]
    assert Pair("a") == Pair(left="a", right="r") and Pair("a", "b").right == "b"
    with pytest.raises(TypeError, match="multiple values for argument 'left'"):
        Pair("a", left="b")  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing required argument: 'left'"):
        Pair()  # type: ignore[call-arg]


def test_post_init_runs() -> None:
    with pytest.raises(ValueError, match="count too large"):
        Outer(inner=Inner(name="x"), count=4)


def test_frozen_slotted_and_copyable() -> None:
    value = Outer(inner=Inner(name="x", tags=("a",)), items=[1], extra={"k": Inner(name="y")})
    with pytest.raises(FrozenInstanceError):
        value.count = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del value.count  # type: ignore[misc]
    assert isinstance(FrozenInstanceError("x"), AttributeError)
    assert not hasattr(value, "__dict__")
    assert copy.deepcopy(value) == value and pickle.loads(pickle.dumps(value)) == value


def test_inherited_fields_come_first() -> None:
    child = Child(name="c", level=2)
    assert fields(child) == ("name", "tags", "level") and child.tags == ()
    assert child != Inner(name="c")  # another class is never equal


def test_replace_and_asdict() -> None:
    value = Outer(inner=Inner(name="x", tags=("a",)), items=[1], extra={"k": Inner(name="y")})
    changed = replace(value, count=2)
    assert changed.count == 2 and changed.inner is value.inner and value.count == 0
    with pytest.raises(TypeError, match="no field 'nope'"):
        replace(value, nope=1)
    with pytest.raises(ValueError, match="too large"):
        replace(value, count=9)
    assert asdict(value) == {"inner": {"name": "x", "tags": ("a",)}, "items": [1],
                             "extra": {"k": {"name": "y", "tags": ()}}, "count": 0}


def test_run_start_up_path_does_not_import_dataclasses(tmp_path) -> None:
    """The point of records: ``lamina run``'s modules load without dataclasses (and inspect)."""
    code = ("import sys; import lamina.cli.main, lamina.cli.runflags, lamina.engine.engine, "
            "lamina.engine.containers, lamina.container.manager, lamina.container.monitor, "
            "lamina.driver.overlay, lamina.runtime.crun, lamina.image.store, lamina.engine.images; "
            "print(sorted(m for m in ('dataclasses', 'inspect', 'random', 'shutil') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
