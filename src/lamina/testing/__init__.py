"""Public test helpers: probes, tree builders, fakes, a registry fixture. Never imported by lamina itself."""
