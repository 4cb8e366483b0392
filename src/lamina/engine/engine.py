"""Engine: the composition root that opens a store root and wires blobs, layers, images and drivers.

Must not print or exit. The CLI and (later) the API call ``Engine`` and nothing below it.

On-disk layout under ``root`` (see docs/internals/layout.md)::

    layout-version      "1"; an unknown version is refused (UnsupportedLayoutVersion)
    oci/                the blob store, an OCI image layout (oci-layout, index.json, blobs/sha256/…)
    lamina.db           sqlite: layers, images, tags, repo digests (lamina.image.metadata)
    storage/driver      the storage driver chosen when the root was first used
    storage/<driver>/   the driver's layer directories
    trash/              renamed-away directories waiting for rmtree
    containers/         container records (lamina.container.store)
    volumes/            local volumes (lamina.container.volumes)

Lock order (lamina._internal.locking): store metadata → images → layers → containers → container.
Services are opened lazily so a verb pays only for what it uses (``images`` never probes a driver).
"""

from __future__ import annotations

import functools
from pathlib import Path

from lamina._internal.fsops import atomic_write
from lamina._internal.logs import get_logger
from lamina.engine.config import EngineConfig
from lamina.errors import DriverNotSupported, UnsupportedLayoutVersion

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lamina.container.volumes import VolumeStore
    from lamina.driver.protocol import Driver
    from lamina.engine.build import BuildService
    from lamina.engine.containers import ContainerService
    from lamina.engine.distribution import DistributionService
    from lamina.engine.images import ImageService
    from lamina.engine.session import Session
    from lamina.engine.system import SystemService
    from lamina.image.layers import LayerStore
    from lamina.image.metadata import MetadataDB
    from lamina.image.store import Image, ImageStore
    from lamina.store.blobs import BlobStore

log = get_logger(__name__)

LAYOUT_VERSION = "1"


class Engine:
    """An open lamina root. Cheap to construct; services open on first use. Close when done."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig.from_env()
        self.root = self.config.root
        self._check_layout()
        self._session = self._open_session()

    def _check_layout(self) -> None:
        marker = self.root / "layout-version"
        try:
            found = marker.read_text().strip()
        except FileNotFoundError:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write(marker, f"{LAYOUT_VERSION}\n".encode())
            return
        if found != LAYOUT_VERSION:
            raise UnsupportedLayoutVersion(str(self.root), found, LAYOUT_VERSION)

    def _open_session(self) -> Session:
        """Join the root's sessions; recovers from a crashed process first (cheap when none did)."""
        from lamina.engine.session import Session
        session = Session(self.root)
        session.open(lambda: self.system.recover())
        return session

    # ------------------------------------------------------------ services
    @functools.cached_property
    def blobs(self) -> BlobStore:
        from lamina.store.blobs import BlobStore
        return BlobStore(self.root / "oci")

    @functools.cached_property
    def db(self) -> MetadataDB:
        from lamina.image.metadata import MetadataDB
        return MetadataDB(self.root / "lamina.db")

    @functools.cached_property
    def driver(self) -> Driver:
        from lamina.driver import select
        home = self.root / "storage"
        home.mkdir(parents=True, exist_ok=True)
        chosen = home / "driver"
        recorded = chosen.read_text().strip() if chosen.exists() else None
        wanted = self.config.storage_driver
        if recorded and wanted not in ("auto", recorded):
            raise DriverNotSupported(wanted, f"{self.root} was created with the {recorded} driver; "
                                             "use a different --root to change drivers")
        driver = select(recorded or wanted, home)
        if recorded is None:
            atomic_write(chosen, f"{driver.name}\n".encode())
        return driver

    @functools.cached_property
    def layers(self) -> LayerStore:
        from lamina.image.layers import LayerStore
        return LayerStore(self.db, lambda: self.driver, self.blobs)

    @functools.cached_property
    def image_store(self) -> ImageStore:
        from lamina.image.store import ImageStore
        return ImageStore(self.db, self.blobs, self.layers)

    @functools.cached_property
    def images(self) -> ImageService:
        from lamina.engine.images import ImageService
        return ImageService(self)

    @functools.cached_property
    def volumes(self) -> VolumeStore:
        from lamina.container.volumes import VolumeStore
        return VolumeStore(self.root / "volumes")

    @functools.cached_property
    def containers(self) -> ContainerService:
        """Container use cases; opening it reconciles records with crun (crash recovery)."""
        from lamina.engine.containers import ContainerService
        return ContainerService(self)

    @functools.cached_property
    def distribution(self) -> DistributionService:
        from lamina.engine.distribution import DistributionService
        return DistributionService(self)

    @functools.cached_property
    def build(self) -> BuildService:
        """``lamina build`` / ``builder prune`` (lamina.engine.build)."""
        from lamina.engine.build import BuildService
        return BuildService(self)

    @functools.cached_property
    def system(self) -> SystemService:
        """df, check/repair, prune, analysis and start-up recovery."""
        from lamina.engine.system import SystemService
        return SystemService(self)

    @property
    def source_date_epoch(self) -> int | None:
        return self.config.source_date_epoch

    def image_user(self, image: Image) -> str | None:
        """The name of a container using *image*, or None."""
        if not (self.root / "containers").is_dir():
            return None
        return self.containers.user_of_image(image)

    def driver_name(self) -> str:
        """The driver this root uses, without probing when it is recorded already."""
        chosen = self.root / "storage" / "driver"
        if chosen.exists():
            return chosen.read_text().strip()
        return self.driver.name

    def trash_dir(self) -> Path:
        path = self.root / "trash"
        path.mkdir(exist_ok=True)
        return path

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()
        self._session.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

