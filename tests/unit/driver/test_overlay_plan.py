"""Pure planning of deep overlay stacks: nesting groups and flatten cuts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.driver.overlay import flatten_cut, new_short_id, plan_nesting
from lamina.errors import InvalidArgument


def _flatten(plan):
    out = []
    for item in plan:
        out.extend(item if isinstance(item, list) else [item])
    return out


def test_shallow_stack_is_unchanged():
    lowers = [f"p{i}" for i in range(5)]
    assert plan_nesting(lowers, 500) == lowers


def test_501_layers_nest_the_bottom_500():
    lowers = [f"p{i}" for i in range(501)]
    plan = plan_nesting(lowers, 500)
    assert plan[0] == "p0"
    assert plan[1] == lowers[1:]
    assert len(plan) == 2


@given(n=st.integers(min_value=1, max_value=5000), cap=st.integers(min_value=2, max_value=120))
def test_plan_keeps_order_and_fits(n, cap):
    lowers = [f"p{i}" for i in range(n)]
    if n > cap * cap:
        with pytest.raises(InvalidArgument):
            plan_nesting(lowers, cap)
        return
    plan = plan_nesting(lowers, cap)
    assert len(plan) <= cap
    assert _flatten(plan) == lowers
    assert all(len(item) <= cap for item in plan if isinstance(item, list))


@given(n=st.integers(min_value=1, max_value=10000), cap=st.integers(min_value=3, max_value=500))
def test_flatten_cut_leaves_room_for_one_flat_dir(n, cap):
    cut = flatten_cut(n, cap)
    if n <= cap:
        assert cut == 0
    else:
        assert 0 < cut < n
        assert cut % (cap - 1) == 0
        assert n - cut + 1 <= cap


def test_short_ids_are_26_base32_chars():
    ids = {new_short_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 26 and i.isalnum() and i.upper() == i for i in ids)
