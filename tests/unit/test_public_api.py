"""The public façade exports exactly what it documents, and each name resolves."""

import lamina


def test_all_names_resolve():
    assert sorted(lamina.__all__) == sorted(
        ["Digest", "Engine", "EngineConfig", "LaminaError", "Reference", "__version__", "errors"])
    for name in lamina.__all__:
        assert getattr(lamina, name) is not None


def test_engine_opens_a_root(tmp_path):
    with lamina.Engine(lamina.EngineConfig(root=tmp_path / "r")) as engine:
        assert engine.images.list() == []
    assert (tmp_path / "r" / "layout-version").read_text() == "1\n"
