"""OCI and Docker schema2 value types: media types, descriptors, manifests, image configs, JSON codec.

Must not do I/O. Import from the submodules (``lamina.spec.manifest``,
``lamina.spec.codec`` …); this package re-exports nothing.
"""
