"""Platform normalisation/matching (containerd rules) and Descriptor value semantics."""

from __future__ import annotations

import os

import pytest

from lamina.digest import Digest
from lamina.spec.descriptor import Descriptor, Platform

D = Digest.parse("sha256:" + "a" * 64)


def P(arch: str, variant: str | None = None, os: str = "linux") -> Platform:
    return Platform(architecture=arch, os=os, variant=variant)


@pytest.mark.parametrize(("machine", "arch", "variant"), [
    ("x86_64", "amd64", None),
    ("aarch64", "arm64", "v8"),
    ("arm64", "arm64", "v8"),
    ("armv7l", "arm", "v7"),
    ("armv6l", "arm", "v6"),
    ("i686", "386", None),
    ("ppc64le", "ppc64le", None),
    ("s390x", "s390x", None),
    ("riscv64", "riscv64", None),
])
def test_current_maps_uname_to_goarch(monkeypatch, machine, arch, variant):
    real = os.uname()
    fake = os.uname_result((real.sysname, real.nodename, real.release, real.version, machine))
    monkeypatch.setattr(os, "uname", lambda: fake)
    now = Platform.current()
    assert (now.os, now.architecture, now.variant) == ("linux", arch, variant)


def test_current_on_this_machine_matches_itself():
    here = Platform.current()
    assert here.matches(here)
    assert here.match_rank(here) == 0


@pytest.mark.parametrize(("given", "arch", "variant"), [
    (P("x86_64"), "amd64", "v1"),
    (P("amd64", "v1"), "amd64", "v1"),
    (P("aarch64"), "arm64", "v8"),
    (P("arm64", "8"), "arm64", "v8"),
    (P("arm64", "v8.0"), "arm64", "v8"),
    (P("arm"), "arm", "v7"),
    (P("armhf"), "arm", "v7"),
    (P("armel"), "arm", "v6"),
    (P("arm", "6"), "arm", "v6"),
    (P("i386"), "386", None),
    (P("AMD64"), "amd64", "v1"),
])
def test_normalized(given, arch, variant):
    n = given.normalized()
    assert (n.architecture, n.variant) == (arch, variant)


@pytest.mark.parametrize(("want", "candidate", "rank"), [
    (P("amd64"), P("amd64"), 0),
    (P("amd64"), P("x86_64"), 0),
    (P("amd64"), P("amd64", "v1"), 0),
    (P("amd64"), P("386"), 1),
    (P("amd64"), P("amd64", "v2"), None),
    (P("amd64", "v3"), P("amd64", "v2"), 1),
    (P("amd64", "v3"), P("amd64"), 2),
    (P("arm64"), P("arm64", "v8"), 0),
    (P("arm64", "v8"), P("arm64"), 0),
    (P("arm64"), P("arm", "v8"), 1),
    (P("arm64"), P("arm", "v7"), 2),
    (P("arm64"), P("arm"), 2),
    (P("arm64"), P("amd64"), None),
    (P("arm64", "v9"), P("arm64"), 1),
    (P("arm64", "v8.2"), P("arm64"), 1),
    (P("arm", "v7"), P("arm", "v6"), 1),
    (P("arm", "v7"), P("arm", "v5"), 2),
    (P("arm", "v6"), P("arm", "v7"), None),
    (P("arm", "v7"), P("arm64"), None),
    (P("amd64"), P("amd64", os="windows"), None),
    (P("amd64", os="Linux"), P("amd64"), 0),
    (P("s390x"), P("s390x"), 0),
    (P("s390x"), P("ppc64le"), None),
])
def test_match_rank(want, candidate, rank):
    assert want.match_rank(candidate) == rank
    assert want.matches(candidate) is (rank is not None)


@pytest.mark.parametrize(("text", "expected"), [
    ("linux/amd64", P("amd64")),
    ("linux/arm64/v8", P("arm64", "v8")),
    ("linux/arm/v7", P("arm", "v7")),
])
def test_parse_and_str(text, expected):
    assert Platform.parse(text) == expected
    assert str(Platform.parse(text)) == text


def test_descriptor_value_semantics():
    a = Descriptor(media_type="a/b", digest=D, size=3, urls=["https://x/y"], annotations={"k": "v"})
    b = Descriptor(media_type="a/b", digest=D, size=3, urls=("https://x/y",), annotations={"k": "v"},
                   extra={"unknown": 1})
    assert a.urls == ("https://x/y",)
    assert a == b  # extra does not take part in equality
    assert hash(a) == hash(b)
    assert len({a, b, Descriptor(media_type="a/b", digest=D, size=4)}) == 2
    assert a.annotation("k") == "v" and a.annotation("nope") is None
    with pytest.raises(AttributeError):
        a.size = 4  # type: ignore[misc]
