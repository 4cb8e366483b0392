"""Config mutation: history rows, diff_ids, --change lines."""

from __future__ import annotations

import pytest

from lamina.digest import Digest
from lamina.errors import InvalidOption
from lamina.image import mutate

D = Digest("sha256", "a" * 64)


def test_timestamp_trims_fraction():
    assert mutate.timestamp(0) == "1970-01-01T00:00:00Z"
    assert mutate.timestamp(1.5) == "1970-01-01T00:00:01.5Z"


def test_append_layer_and_empty_layer():
    cfg = mutate.empty_config("2000-01-01T00:00:00Z")
    cfg = mutate.append_layer(cfg, D, created="t1", created_by="COPY x", comment="c")
    cfg = mutate.append_layer(cfg, None, created="t2", created_by="ENV a=b")
    assert cfg["rootfs"]["diff_ids"] == [str(D)]
    assert cfg["history"] == [{"created": "t1", "created_by": "COPY x", "comment": "c"},
                              {"created": "t2", "created_by": "ENV a=b", "empty_layer": True}]
    assert cfg["created"] == "t2"


@pytest.mark.parametrize("change, key, value", [
    ('CMD ["a", "b"]', "Cmd", ["a", "b"]),
    ("CMD echo hi", "Cmd", ["/bin/sh", "-c", "echo hi"]),
    ('ENTRYPOINT ["/x"]', "Entrypoint", ["/x"]),
    ("WORKDIR /w", "WorkingDir", "/w"),
    ("USER 1000:1000", "User", "1000:1000"),
    ("STOPSIGNAL SIGINT", "StopSignal", "SIGINT"),
    ("EXPOSE 80 53/udp", "ExposedPorts", {"80/tcp": {}, "53/udp": {}}),
    ("VOLUME /data /logs", "Volumes", {"/data": {}, "/logs": {}}),
    ('VOLUME ["/data"]', "Volumes", {"/data": {}}),
    ('LABEL a=b "c d"="e f"', "Labels", {"a": "b", "c d": "e f"}),
    ("ONBUILD RUN x", "OnBuild", ["RUN x"]),
])
def test_changes(change, key, value):
    out = mutate.apply_changes({"config": {}}, [change])
    assert out["config"][key] == value


def test_env_replaces_and_legacy_form():
    out = mutate.apply_changes({"config": {"Env": ["PATH=/bin", "A=1"]}}, ["ENV A=2 B=3", "ENV C hello world"])
    assert out["config"]["Env"] == ["PATH=/bin", "A=2", "B=3", "C=hello world"]


@pytest.mark.parametrize("change", ["FROM x", "RUN echo", "ENV", "ENV A", "LABEL nokey", ""])
def test_bad_changes_rejected(change):
    with pytest.raises(InvalidOption):
        mutate.apply_changes({"config": {}}, [change])
