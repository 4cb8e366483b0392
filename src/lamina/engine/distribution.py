"""DistributionService: pull images from and push them to OCI registries, login/logout.

Must not print or exit. Spans the registry client (blobs in, blobs out) and the image store
(layers registered, image added), which is why it lives in ``engine``. A pull that fails leaves
no image and no layer visible: layers it registered are released again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.reference import Reference

if TYPE_CHECKING:
    from lamina.engine.engine import Engine
    from lamina.image.layers import Layer
    from lamina.image.store import Image
    from lamina.registry.client import RegistryClient
    from lamina.registry.pull import PullResult
    from lamina.registry.push import PushResult
    from lamina.registry.transfer import ProgressEvent

log = logging.getLogger(__name__)
Progress = Callable[["ProgressEvent"], None]


class DistributionService:
    """Registry use cases over one open Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def credentials_path(self) -> Path:
        return self.engine.config.config_dir / "config.json"

    def client(self, domain: str) -> RegistryClient:
        from lamina.registry.auth import CredentialStore
        from lamina.registry.client import RegistryClient
        insecure = True if domain in self.engine.config.insecure_registries else None
        return RegistryClient(domain, credentials=CredentialStore(self.credentials_path), insecure=insecure)

    # ------------------------------------------------------------ pull
    def pull(self, name: str, *, all_tags: bool = False, platform: str | None = None,
             progress: Progress | None = None, max_concurrent: int = 3) -> list[Image]:
        """Pull *name* (or every tag of its repository) and register it; returns the images."""
        from lamina.registry.pull import pull, pull_all_tags
        from lamina.spec.descriptor import Platform
        ref = Reference.parse(name)
        want = Platform.parse(platform) if platform else None
        with self.client(ref.domain) as client:
            if all_tags:
                results = pull_all_tags(client, ref, self.engine.blobs, platform=want,
                                        max_concurrent=max_concurrent, progress=progress)
            else:
                results = [pull(client, ref, self.engine.blobs, platform=want,
                                max_concurrent=max_concurrent, progress=progress)]
        return [self._register(result) for result in results]

    def _register(self, result: PullResult) -> Image:
        ref = Reference.parse(result.reference)
        store = self.engine.image_store
        config_bytes = self.engine.blobs.read_bytes(result.config_digest)
        blobs = [(d.digest, d.size, d.media_type) for d in result.layers]
        created: list[Layer] = []
        try:
            layers = store.ensure_layers(config_bytes, blobs, created)
            digest = result.index_digest or result.manifest_digest
            return store.add(config_bytes, layers, tags=[str(ref)] if ref.digest is None else [],
                             manifest_bytes=result.manifest_bytes,
                             manifest_media_type=result.manifest_media_type,
                             repo_digest=f"{ref.repository}@{digest}")
        except BaseException:
            for layer in reversed(created):
                self.engine.layers.release(layer.chain_id)
            raise

    # ------------------------------------------------------------ push
    def push(self, name: str, *, progress: Progress | None = None, max_concurrent: int = 5) -> PushResult:
        """Push the image named *name* to its registry; records the pushed repo digest."""
        from lamina.registry.push import push
        ref = Reference.parse(name)
        image = self.engine.images.resolve(name)
        manifest = self.engine.blobs.read_bytes(image.manifest_digest)
        mount_from = [r.split("@")[0] for r in image.repo_digests
                      if Reference.parse(r).domain == ref.domain]
        with self.client(ref.domain) as client:
            result = push(client, ref, self.engine.blobs, manifest, image.manifest_media_type,
                          max_concurrent=max_concurrent, progress=progress,
                          mount_from=[Reference.parse(m).remote_path for m in mount_from])
        with self.engine.db.transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO repo_digests VALUES (?,?)",
                        (f"{ref.repository}@{result.digest}", str(image.id)))
        return result

    # ------------------------------------------------------------ credentials
    def login(self, server: str, username: str, password: str) -> None:
        from lamina.registry.auth import login
        domain = _domain(server)
        login(domain, username, password, self.credentials_path,
              insecure=True if domain in self.engine.config.insecure_registries else None)

    def logout(self, server: str) -> bool:
        from lamina.registry.auth import logout
        return logout(_domain(server), self.credentials_path)


def _domain(server: str) -> str:
    """docker login accepts ``host``, ``host:port`` or a URL; no server means Docker Hub."""
    text = server.removeprefix("https://").removeprefix("http://").split("/")[0]
    return text or "docker.io"
