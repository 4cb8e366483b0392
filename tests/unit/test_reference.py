"""Reference parsing and normalisation: docker's ParseNormalizedNamed + TagNameOnly, table-driven."""

from __future__ import annotations

import pytest

from lamina.digest import Digest
from lamina.errors import InvalidArgument, InvalidReference
from lamina.reference import Reference, looks_like_id

HEX_A = "a" * 64
HEX_B = "b" * 64
DIG_A = f"sha256:{HEX_A}"

# input, full string, familiar string, domain, path, tag, digest
VALID = [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36",
     "docker.io", "library/busybox", "1.36", None),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest",
     "docker.io", "library/busybox", "latest", None),
    ("user/app", "docker.io/user/app:latest", "user/app:latest", "docker.io", "user/app", "latest", None),
    ("user/app:v1.0_rc-2", "docker.io/user/app:v1.0_rc-2", "user/app:v1.0_rc-2",
     "docker.io", "user/app", "v1.0_rc-2", None),
    ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest",
     "docker.io", "library/a/b", "latest", None),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest", "localhost", "app", "latest", None),
    ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t",
     "localhost:5000", "a/b", "t", None),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest",
     "127.0.0.1:5000", "x", "latest", None),
    ("[::1]:5000/x:1", "[::1]:5000/x:1", "[::1]:5000/x:1", "[::1]:5000", "x", "1", None),
    ("[2001:db8::1]/x", "[2001:db8::1]/x:latest", "[2001:db8::1]/x:latest",
     "[2001:db8::1]", "x", "latest", None),
    ("ghcr.io/owner/repo/sub:tag", "ghcr.io/owner/repo/sub:tag", "ghcr.io/owner/repo/sub:tag",
     "ghcr.io", "owner/repo/sub", "tag", None),
    ("example:5000/app", "example:5000/app:latest", "example:5000/app:latest",
     "example:5000", "app", "latest", None),
    ("Example.COM/app", "Example.COM/app:latest", "Example.COM/app:latest",
     "Example.COM", "app", "latest", None),
    ("Foo/bar", "Foo/bar:latest", "Foo/bar:latest", "Foo", "bar", "latest", None),
    ("a.b-c/e--f_g.h__i", "a.b-c/e--f_g.h__i:latest", "a.b-c/e--f_g.h__i:latest",
     "a.b-c", "e--f_g.h__i", "latest", None),
    ("foo__bar/baz", "docker.io/foo__bar/baz:latest", "foo__bar/baz:latest",
     "docker.io", "foo__bar/baz", "latest", None),
    (f"busybox@{DIG_A}", f"docker.io/library/busybox@{DIG_A}", f"busybox@{DIG_A}",
     "docker.io", "library/busybox", None, DIG_A),
    (f"busybox:1@{DIG_A}", f"docker.io/library/busybox:1@{DIG_A}", f"busybox:1@{DIG_A}",
     "docker.io", "library/busybox", "1", DIG_A),
    (f"localhost:5000/a@{DIG_A}", f"localhost:5000/a@{DIG_A}", f"localhost:5000/a@{DIG_A}",
     "localhost:5000", "a", None, DIG_A),
    ("busybox:" + "T" * 128, "docker.io/library/busybox:" + "T" * 128, "busybox:" + "T" * 128,
     "docker.io", "library/busybox", "T" * 128, None),
    ("busybox:_x", "docker.io/library/busybox:_x", "busybox:_x", "docker.io", "library/busybox", "_x", None),
    ("a" * 63, "docker.io/library/" + "a" * 63 + ":latest", "a" * 63 + ":latest",
     "docker.io", "library/" + "a" * 63, "latest", None),
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000",
     "docker.io", "library/localhost", "5000", None),
    ("x/" + "a" * 253, "docker.io/x/" + "a" * 253 + ":latest", "x/" + "a" * 253 + ":latest",
     "docker.io", "x/" + "a" * 253, "latest", None),
]


@pytest.mark.parametrize(("text", "full", "familiar", "domain", "path", "tag", "digest"), VALID,
                         ids=[v[0][:40] for v in VALID])
def test_parse_valid(text, full, familiar, domain, path, tag, digest):
    ref = Reference.parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert ref.digest == (Digest.parse(digest) if digest else None)
    assert ref.repository == f"{domain}/{path}"
    assert ref.remote_path == path
    # normalisation is idempotent: parsing either form gives the same value
    assert Reference.parse(full) == ref
    assert Reference.parse(familiar) == ref


INVALID = [
    ("", "at least one component"),
    ("BusyBox", "must be lowercase"),
    ("busyBox:latest", "must be lowercase"),
    ("user/App", "must be lowercase"),
    ("localhost:5000/Foo", "must be lowercase"),
    (HEX_A, "64-byte hexadecimal"),
    ("busybox:-x", "invalid tag format"),
    ("busybox:.x", "invalid tag format"),
    ("busybox:a/b", "invalid"),
    ("busybox:" + "a" * 129, "invalid tag format"),
    ("busybox:ta g", "invalid tag format"),
    ("busybox:tag!", "invalid tag format"),
    ("busybox:é", "invalid tag format"),
    ("x/" + "a" * 254, "must not be more than 255"),
    ("a" * 2000, "too long"),
    ("busybox@sha256:abc", "invalid digest format"),
    ("busybox@sha256:" + "A" * 64, "invalid digest"),
    ("busybox@md5:" + "a" * 32, "unsupported algorithm"),
    ("busybox@" + HEX_A, "invalid digest format"),
    ("a b", "whitespace"),
    (" busybox", "whitespace"),
    (":tag", "invalid reference format"),
    ("foo/", "invalid reference format"),
    ("/foo", "invalid reference format"),
    ("foo//bar", "invalid reference format"),
    ("-foo", "invalid reference format"),
    ("foo-", "invalid reference format"),
    ("foo..bar", "invalid reference format"),
    ("foo___bar", "invalid reference format"),
    ("-host.com/foo", "invalid reference format"),
    ("host.com:port/foo", "invalid reference format"),
    ("busybox:latest:extra", "invalid"),
    ("busybox@", "invalid digest format"),
    ("a_b.c/x", "invalid registry domain"),
]


@pytest.mark.parametrize(("text", "reason_part"), INVALID, ids=[v[0][:40] or "empty" for v in INVALID])
def test_parse_invalid(text, reason_part):
    with pytest.raises(InvalidReference) as info:
        Reference.parse(text)
    err = info.value
    assert reason_part in err.reason
    assert isinstance(err, InvalidArgument)
    assert err.http_status == 400
    assert str(err).startswith("invalid reference format")


def test_name_length_limit_is_on_the_path():
    ok = Reference.parse("x/" + "a" * 253)  # path "x/aaa…" is exactly 255
    assert len(ok.path) == 255
    with pytest.raises(InvalidReference):
        Reference.parse("x/" + "a" * 254)


@pytest.mark.parametrize(("text", "name"), [
    ("busybox", "busybox"),
    ("user/app:1", "user/app"),
    ("docker.io/library/a/b", "library/a/b"),
    ("localhost:5000/a/b", "localhost:5000/a/b"),
    ("quay.io/x/y", "quay.io/x/y"),
])
def test_name_is_familiar_name(text, name):
    assert Reference.parse(text).name == name


@pytest.mark.parametrize(("text", "loopback"), [
    ("localhost/a", True),
    ("localhost:5000/a", True),
    ("127.0.0.1/a", True),
    ("127.0.0.1:5000/a", True),
    ("127.1.2.3:80/a", True),
    ("[::1]/a", True),
    ("[::1]:5000/a", True),
    ("busybox", False),
    ("10.0.0.1:5000/a", False),
    ("[2001:db8::1]:5000/a", False),
    ("localhost.example.com/a", False),
    ("128.0.0.1/a", False),
])
def test_is_loopback(text, loopback):
    assert Reference.parse(text).is_loopback is loopback


@pytest.mark.parametrize(("text", "host"), [
    ("busybox", "registry-1.docker.io"),
    ("index.docker.io/user/x", "registry-1.docker.io"),
    ("localhost:5000/a", "localhost:5000"),
    ("ghcr.io/a/b", "ghcr.io"),
])
def test_registry_host(text, host):
    assert Reference.parse(text).registry_host == host


def test_with_tag_and_digest():
    ref = Reference.parse("busybox")
    d = Digest.parse(DIG_A)
    assert str(ref.with_tag("1.36")) == "docker.io/library/busybox:1.36"
    pinned = ref.with_digest(d)
    assert str(pinned) == f"docker.io/library/busybox:latest@{DIG_A}"
    assert pinned.with_tag("x").digest == d  # a tag change keeps the digest, as docker's WithTag does
    assert str(pinned.without_tag()) == f"docker.io/library/busybox@{DIG_A}"
    with pytest.raises(InvalidReference):
        ref.with_tag("-bad")
    with pytest.raises(InvalidReference):
        ref.with_tag("")


def test_reference_is_frozen_hashable_value():
    a = Reference.parse("busybox")
    b = Reference.parse("docker.io/library/busybox:latest")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.tag = "x"  # type: ignore[misc]


@pytest.mark.parametrize(("domain", "path"), [
    ("docker.io", "Upper"),
    ("bad domain", "x"),
    ("docker.io", "a" * 256),
    ("docker.io", ""),
])
def test_direct_construction_validates(domain, path):
    with pytest.raises(InvalidReference):
        Reference(domain=domain, path=path)


@pytest.mark.parametrize(("text", "expected"), [
    (HEX_A, True),
    ("abc123", True),
    ("a", True),
    (f"sha256:{HEX_A}", True),
    ("sha256:abcdef", True),
    ("ABCDEF", False),
    ("a" * 65, False),
    ("busybox", False),
    ("", False),
    ("sha256:", False),
    ("xyz", False),
    ("abc:1", False),
])
def test_looks_like_id(text, expected):
    assert looks_like_id(text) is expected
