"""Pure planning of deep overlay stacks: where to flatten and what to nest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.driver.overlay import nest_split, new_short_id, stack_cut
from lamina.errors import InvalidArgument


def test_shallow_stacks_are_mounted_as_they_are():
    assert stack_cut(500, 500, nest=False) == 0
    assert stack_cut(999, 500, nest=True) == 0
    assert nest_split(500, 500) == 0


def test_up_to_999_layers_nest_the_bottom_prefix_once():
    assert nest_split(501, 500) == 2
    assert nest_split(999, 500) == 500
    with pytest.raises(InvalidArgument):
        nest_split(1000, 500)


def test_cuts_fall_on_shared_steps():
    assert stack_cut(1000, 500, nest=True) == 998
    assert stack_cut(1996, 500, nest=True) == 998
    assert stack_cut(1997, 500, nest=True) == 1996
    assert stack_cut(501, 500, nest=False) == 499


@given(n=st.integers(min_value=1, max_value=20000), cap=st.integers(min_value=3, max_value=500),
       nest=st.booleans())
def test_every_stack_fits_one_mount_after_cut_and_split(n, cap, nest):
    cut = stack_cut(n, cap, nest=nest)
    step = (2 * cap - 2) if nest else cap - 1
    assert cut % step == 0
    assert 0 <= cut < n
    entries = n - cut + (1 if cut else 0)
    split = nest_split(entries, cap) if nest else 0
    if not nest:
        assert entries <= cap
    else:
        assert entries - split + (1 if split else 0) <= cap
        assert split <= cap
        assert split != 1


def test_short_ids_are_26_base32_chars():
    ids = {new_short_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 26 and i.isalnum() and i.upper() == i for i in ids)
