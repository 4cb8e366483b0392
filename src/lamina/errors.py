"""Every public lamina exception, grouped by category.

Must not import anything from lamina: every other module imports this one.

Each category carries ``http_status`` and ``exit_code``; the CLI's one error
mapper (``lamina.cli.main``) and the API's use them and nothing else.
Messages are lower-case "verb object: detail" (umoci's style) and errors keep
their structured fields (``digest``, ``reference``, ``path``, ``location``) so
callers and tests need not parse text.

    LaminaError
    ├── NotFound (404)          ImageNotFound, ContainerNotFound, BlobNotFound, LayerNotFound,
    │                           ManifestUnknown, VolumeNotFound, PathNotFound
    ├── InvalidArgument (400)   InvalidReference, InvalidDigest, InvalidLayer, InvalidManifest,
    │                           InvalidArchive, DockerfileError(location), InvalidTemplate, InvalidOption
    ├── Conflict (409)          NameInUse, ImageInUse, ContainerRunning, LayerHasChildren,
    │                           InvalidStateTransition, LockTimeout, VolumeInUse, PortAllocated
    ├── Unauthorized (401)      RegistryAuthRequired
    ├── PermissionDenied (403)  RegistryDenied, RootRequired
    ├── Unavailable (503)       DriverNotSupported, RuntimeNotFound, RegistryUnavailable(retryable),
    │                           NetworkFailed
    ├── NotSupported (501)      UnsupportedMediaType, UnsupportedPlatform, UnsupportedLayoutVersion,
    │                           UnsupportedDigest
    ├── DataCorruption (500)    DigestMismatch, SizeMismatch, StoreCorrupted
    ├── StorageFull (507)       NoSpace
    ├── ContainerCommandError   CommandNotFound (127), CommandNotExecutable (126)
    ├── RuntimeFailed (500)     the OCI runtime (crun/runc) failed; ``stderr`` keeps its message
    ├── BuildFailed             a build step failed (RUN exit status, missing COPY source); exit 1
    └── InternalError (500)     invariant violations (a bug); the CLI prints a traceback for these only
"""

from __future__ import annotations


class LaminaError(Exception):
    """Base of every lamina error. ``str(err)`` is the one-line message."""

    http_status: int = 500
    exit_code: int = 125

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------- categories
class NotFound(LaminaError):
    http_status = 404


class InvalidArgument(LaminaError):
    http_status = 400


class Conflict(LaminaError):
    http_status = 409


class Unauthorized(LaminaError):
    http_status = 401


class PermissionDenied(LaminaError):
    http_status = 403


class Unavailable(LaminaError):
    http_status = 503


class NotSupported(LaminaError):
    http_status = 501


class DataCorruption(LaminaError):
    http_status = 500


class StorageFull(LaminaError):
    http_status = 507


class InternalError(LaminaError):
    """An invariant was violated: a bug in lamina. The CLI prints a traceback."""

    http_status = 500


# ---------------------------------------------------------------- not found
class ImageNotFound(NotFound):
    def __init__(self, reference: str, message: str | None = None) -> None:
        super().__init__(message or f"no such image: {reference}", reference=reference)
        self.reference = reference


class ContainerNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no such container: {name}", name=name)
        self.name = name


class VolumeNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no such volume: {name}", name=name)
        self.name = name


class BlobNotFound(NotFound):
    def __init__(self, digest: str, message: str | None = None) -> None:
        super().__init__(message or f"blob unknown: {digest}", digest=digest)
        self.digest = digest


class LayerNotFound(NotFound):
    def __init__(self, layer: str, message: str | None = None) -> None:
        super().__init__(message or f"layer unknown: {layer}", layer=layer)
        self.layer = layer


class ManifestUnknown(NotFound):
    def __init__(self, reference: str, message: str | None = None) -> None:
        super().__init__(message or f"manifest unknown: {reference}", reference=reference)
        self.reference = reference


class PathNotFound(NotFound):
    def __init__(self, path: str, message: str | None = None) -> None:
        super().__init__(message or f"no such file or directory: {path}", path=path)
        self.path = path


# ---------------------------------------------------------------- invalid input
class InvalidReference(InvalidArgument):
    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"invalid reference format {reference!r}: {reason}", reference=reference)
        self.reference = reference
        self.reason = reason


class InvalidDigest(InvalidArgument):
    def __init__(self, digest: str, reason: str) -> None:
        super().__init__(f"invalid digest {digest!r}: {reason}", digest=digest)
        self.digest = digest
        self.reason = reason


class InvalidLayer(InvalidArgument):
    """A layer tar is malformed or hostile; ``entry`` names the offending member."""

    def __init__(self, message: str, entry: str | None = None) -> None:
        super().__init__(message, entry=entry)
        self.entry = entry


class InvalidManifest(InvalidArgument):
    """A manifest, index, config or descriptor document is malformed; ``field`` is its JSON path."""

    def __init__(self, message: str, digest: str | None = None, field: str | None = None) -> None:
        super().__init__(message, digest=digest, field=field)
        self.digest = digest
        self.field = field


class InvalidArchive(InvalidArgument):
    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.path = path


class DockerfileError(InvalidArgument):
    """A Dockerfile problem; ``location`` is (line_start, line_end), 1-based."""

    exit_code = 1

    def __init__(self, message: str, *, file: str = "Dockerfile",
                 location: tuple[int, int] | None = None, instruction: str | None = None) -> None:
        where = f"{file}:{location[0]}" if location else file
        super().__init__(f"{where}: {message}", file=file, location=location, instruction=instruction)
        self.file = file
        self.location = location
        self.instruction = instruction


class InvalidTemplate(InvalidArgument):
    def __init__(self, template: str, reason: str) -> None:
        super().__init__(f"template parsing error: {reason}", template=template)
        self.template = template


class InvalidOption(InvalidArgument):
    """A CLI or API option value is malformed (a bad -v spec, a bad --change)."""


# ---------------------------------------------------------------- conflicts
class NameInUse(Conflict):
    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f'the name "{name}" is already in use by {holder}', name=name, holder=holder)
        self.name = name


class ImageInUse(Conflict):
    def __init__(self, image: str, reason: str) -> None:
        super().__init__(f"unable to remove image {image}: {reason}", image=image)
        self.image = image


class ContainerRunning(Conflict):
    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"container {name} is running: stop it first or use --force",
                         name=name)
        self.name = name


class LayerHasChildren(Conflict):
    def __init__(self, layer: str) -> None:
        super().__init__(f"layer {layer} has children", layer=layer)
        self.layer = layer


class InvalidStateTransition(Conflict):
    def __init__(self, name: str, state: str, action: str) -> None:
        super().__init__(f"cannot {action} container {name}: it is {state}", name=name, state=state)


class VolumeInUse(Conflict):
    def __init__(self, name: str, holders: str) -> None:
        super().__init__(f"remove volume {name}: volume is in use by {holders}", name=name)


class PortAllocated(Conflict):
    def __init__(self, address: str, holder: str = "") -> None:
        by = f" (by container {holder[:12]})" if holder else ""
        super().__init__(f"Bind for {address} failed: port is already allocated{by}", address=address)
        self.address = address


class LockTimeout(Conflict):
    def __init__(self, path: str) -> None:
        super().__init__(f"timed out waiting for lock {path}", path=path)


# ---------------------------------------------------------------- auth / availability
class RegistryAuthRequired(Unauthorized):
    def __init__(self, reference: str, message: str | None = None) -> None:
        super().__init__(message or f"{reference}: authentication required", reference=reference)
        self.reference = reference


class RegistryDenied(PermissionDenied):
    def __init__(self, reference: str, message: str | None = None) -> None:
        super().__init__(message or f"{reference}: access denied", reference=reference)
        self.reference = reference


class RootRequired(PermissionDenied):
    pass


class DriverNotSupported(Unavailable):
    def __init__(self, driver: str, reason: str) -> None:
        super().__init__(f"storage driver {driver} is not supported here: {reason}", driver=driver)
        self.driver = driver
        self.reason = reason


class RuntimeNotFound(Unavailable):
    pass


class NetworkFailed(Unavailable):
    """Setting up or tearing down a container's network failed (a CNI plugin's error, a missing plugin)."""


class RegistryUnavailable(Unavailable):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)
        self.retryable = retryable


class UnsupportedMediaType(NotSupported):
    def __init__(self, media_type: str, message: str | None = None) -> None:
        super().__init__(message or f"unsupported media type: {media_type}", media_type=media_type)
        self.media_type = media_type


class UnsupportedPlatform(NotSupported):
    pass


class UnsupportedDigest(NotSupported):
    """A well-formed digest whose algorithm lamina cannot verify (e.g. ``sha256+b64:…``)."""

    def __init__(self, digest: str, field: str | None = None) -> None:
        where = f"{field}: " if field else ""
        super().__init__(f"{where}unsupported digest algorithm: {digest}", digest=digest, field=field)
        self.digest = digest
        self.field = field


class UnsupportedLayoutVersion(NotSupported):
    def __init__(self, root: str, found: str, supported: str) -> None:
        super().__init__(
            f"open store {root}: layout-version {found!r} is not supported (this lamina knows {supported})",
            path=root)


# ---------------------------------------------------------------- corruption
class DigestMismatch(DataCorruption):
    def __init__(self, expected: str, actual: str, what: str = "blob") -> None:
        super().__init__(f"verify {what}: digest mismatch: expected {expected}, got {actual}",
                         digest=expected, actual=actual)
        self.digest = expected
        self.actual = actual


class SizeMismatch(DataCorruption):
    def __init__(self, digest: str, expected: int, actual: int) -> None:
        super().__init__(f"verify blob {digest}: size mismatch: expected {expected} bytes, got {actual}",
                         digest=digest, expected=expected, actual=actual)
        self.digest = digest
        self.expected = expected
        self.actual = actual


class StoreCorrupted(DataCorruption):
    pass


class NoSpace(StorageFull):
    def __init__(self, path: str) -> None:
        super().__init__(f"write {path}: no space left on device", path=path)


# ---------------------------------------------------------------- container command
class ContainerCommandError(LaminaError):
    """The container's command could not be started (docker's 126/127)."""


class CommandNotFound(ContainerCommandError):
    exit_code = 127

    def __init__(self, command: str) -> None:
        super().__init__(f'exec: "{command}": executable file not found in $PATH', command=command)


class CommandNotExecutable(ContainerCommandError):
    exit_code = 126

    def __init__(self, command: str, reason: str = "permission denied") -> None:
        super().__init__(f'exec: "{command}": {reason}', command=command)


# ---------------------------------------------------------------- OCI runtime
class RuntimeFailed(LaminaError):
    """crun/runc failed for a reason with no more specific lamina error."""

    def __init__(self, message: str, *, command: str = "", stderr: str = "") -> None:
        super().__init__(message, command=command, stderr=stderr)
        self.command = command
        self.stderr = stderr


# ---------------------------------------------------------------- builds
class BuildFailed(LaminaError):
    """A build step failed: a RUN exited non-zero, a COPY source is missing (``docker build`` exits 1).

    ``step`` is the progress name ("[2/3] RUN exit 3"), ``status`` the process exit code (RUN only),
    ``output`` its last lines; ``file``/``location``/``instruction`` point into the Dockerfile.
    """

    exit_code = 1

    def __init__(self, message: str, *, step: str = "", status: int | None = None,
                 output: tuple[str, ...] = (), file: str = "Dockerfile",
                 location: tuple[int, int] | None = None, instruction: str | None = None) -> None:
        super().__init__(message, step=step, status=status, output=output, file=file, location=location,
                         instruction=instruction)
        self.step = step
        self.status = status
        self.output = output
        self.file = file
        self.location = location
        self.instruction = instruction
