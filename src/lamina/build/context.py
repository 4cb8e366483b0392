"""Build context and COPY/ADD file work: source selection, content hashing, copying into a rootfs.

A ``SourceTree`` is a directory COPY reads from: the build context (``.dockerignore`` applied,
so ignored files are neither hashed nor copied) or a stage/image view (nothing ignored). A context
given as a tar stream is extracted into a private directory first.

Docker's COPY rules implemented here: sources are relative to the tree (``/`` and ``..`` cannot
escape it); globs match per path component (``*``, ``?``, ``[...]``); a directory source copies its
*contents*; several sources (or a glob matching several) need a destination ending in ``/``; a file
copied to a destination ending in ``/`` or naming an existing directory keeps its base name;
missing parents are created 0755 root; files are owned 0:0 unless ``--chown``; ``--chmod`` sets
the mode of everything copied; mtimes are kept (the layer tar clamps them to the build epoch);
ADD of a local tar archive (plain, gzip, bzip2, xz) extracts it into the destination.

Must not know layers, drivers or the cache database: hashing takes a ``FileHasher``.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lamina._internal.fsops import resolve_in_root
from lamina.build.cache import FileHasher
from lamina.build.ignore import PatternMatcher, context_patterns, go_clean
from lamina.errors import PathNotFound

__all__ = ["Owner", "SourceTree", "copy_into", "copy_sources", "dest_is_dir", "hash_sources",
           "resolve_in_root", "write_file"]

_GLOB = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Owner:
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True, slots=True)
class SourceTree:
    """A directory COPY reads from; ``matcher`` excludes paths (the context's .dockerignore)."""

    root: Path
    label: str = "build context"
    matcher: PatternMatcher | None = None

    @classmethod
    def context(cls, root: Path, dockerfile: Path | None = None) -> SourceTree:
        patterns = context_patterns(root, dockerfile)
        return cls(root, "build context", PatternMatcher(patterns) if patterns else None)

    @classmethod
    def from_tar(cls, stream: IO[bytes], into: Path) -> Path:
        """Extract a context tar (any compression) into ``into``; returns it."""
        import tarfile

        from lamina.layer.untar import extract_all
        into.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            extract_all(tar, into)
        return into

    def ignored(self, rel: str) -> bool:
        return self.matcher is not None and bool(rel) and self.matcher.matches(rel)

    def select(self, pattern: str) -> list[str]:
        """Relative paths ``pattern`` names (sorted); ``PathNotFound`` when nothing matches."""
        clean = go_clean("/" + pattern.replace("\\", "/")).lstrip("/")
        parts = [p for p in clean.split("/") if p]
        found = sorted(self._match(parts, "")) if any(_GLOB & set(p) for p in parts) else self._exact(clean)
        if not found:
            raise PathNotFound(pattern, f"copy {pattern}: not found in {self.label}"
                               + (" or excluded by .dockerignore" if self.matcher else ""))
        return found

    def _exact(self, rel: str) -> list[str]:
        if rel and (self.ignored(rel) and not self._reincluded_below(rel)):
            return []
        return [rel] if os.path.lexists(self.root / rel) else []

    def _reincluded_below(self, rel: str) -> bool:
        return self.matcher is not None and (self.root / rel).is_dir() and self.matcher.could_include_below(rel)

    def _match(self, parts: list[str], prefix: str) -> Iterator[str]:
        base = self.root / prefix if prefix else self.root
        try:
            names = sorted(os.listdir(base))
        except (NotADirectoryError, FileNotFoundError):
            return
        head, rest = parts[0], parts[1:]
        for name in names:
            rel = prefix + name
            if not fnmatch.fnmatchcase(name, head) or self.ignored(rel):
                continue
            if rest:
                yield from self._match(rest, rel + "/")
            else:
                yield rel

    def walk(self, rel: str) -> Iterator[tuple[str, os.stat_result]]:
        """``rel`` and, for a directory, everything kept below it, parents first, sorted."""
        path = self.root / rel if rel else self.root
        st = os.lstat(path)
        if rel:
            yield rel, st
        if stat.S_ISDIR(st.st_mode):
            yield from self._walk_dir(rel)

    def _walk_dir(self, rel: str) -> Iterator[tuple[str, os.stat_result]]:
        base = os.path.join(self.root, rel) if rel else self.root
        with os.scandir(base) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if self.ignored(child):
                if is_dir and self.matcher is not None and self.matcher.could_include_below(child):
                    yield from self._walk_dir(child)
                continue
            yield child, entry.stat(follow_symlinks=False)
            if is_dir:
                yield from self._walk_dir(child)


# ---------------------------------------------------------------- hashing
def hash_sources(tree: SourceTree, rels: list[str], hasher: FileHasher) -> tuple[str, dict[str, str]]:
    """(aggregate digest, per-path digests) over content, mode, uid/gid, type and link target."""
    total = hashlib.sha256()
    details: dict[str, str] = {}
    root = str(tree.root)
    for rel in rels:
        for path, st in tree.walk(rel):
            line = _describe(os.path.join(root, path), st, hasher)
            details["file:" + path] = line
            total.update(f"{path}\0{line}\n".encode())
        if not rel:
            details["file:."] = "root"
    return "sha256:" + total.hexdigest(), details


def _describe(path: str, st: os.stat_result, hasher: FileHasher) -> str:
    mode = stat.S_IMODE(st.st_mode)
    kind = stat.S_IFMT(st.st_mode)
    extra = ""
    if stat.S_ISREG(kind):
        extra = hasher.digest(path, st)
    elif stat.S_ISLNK(kind):
        extra = os.readlink(path)
    return f"{kind:o}:{mode:o}:{st.st_uid}:{st.st_gid}:{extra}"


# ---------------------------------------------------------------- destination paths
def make_dirs(rootfs: Path, path: str, owner: Owner = Owner()) -> Path:
    """``mkdir -p`` of an image path inside ``rootfs`` (new dirs 0755, ``owner``); returns it."""
    target = resolve_in_root(rootfs, path)
    missing: list[Path] = []
    probe = target
    while not probe.exists() and probe != rootfs:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o755)
        os.chmod(directory, 0o755)
        os.lchown(directory, owner.uid, owner.gid)
    return target


# ---------------------------------------------------------------- copying
@dataclass(frozen=True, slots=True, kw_only=True)
class CopyOptions:
    owner: Owner = Owner()
    chmod: int | None = None
    unpack: bool = False


def dest_is_dir(tree: SourceTree, rels: list[str], dest: str) -> bool:
    """True when ``copy_sources`` would copy every source *into* the directory ``dest``."""
    if dest.endswith("/") or len(rels) > 1:
        return True
    return all(os.path.isdir(tree.root / rel) if rel else True for rel in rels)


def copy_sources(tree: SourceTree, rels: list[str], rootfs: Path, dest: str, opts: CopyOptions) -> None:
    """Copy selected sources to the image path ``dest`` (absolute) inside ``rootfs``."""
    into_dir = dest.endswith("/") or len(rels) > 1
    for rel in rels:
        src = tree.root / rel if rel else tree.root
        st = os.stat(src) if not os.path.islink(src) else os.lstat(src)
        if stat.S_ISDIR(st.st_mode):
            target = make_dirs(rootfs, dest, opts.owner)
            _copy_dir_contents(tree, rel, target, opts)
        elif opts.unpack and _is_archive(src):
            _extract(src, make_dirs(rootfs, dest, opts.owner))
        else:
            _copy_file_to(tree, rel, src, rootfs, dest, into_dir, opts)


def copy_into(tree: SourceTree, rels: list[str], target: Path, opts: CopyOptions) -> None:
    """Copy selected sources into the existing host directory ``target`` (``dest_is_dir`` held; no unpack)."""
    for rel in rels:
        src = tree.root / rel if rel else tree.root
        st = os.stat(src) if not os.path.islink(src) else os.lstat(src)
        if stat.S_ISDIR(st.st_mode):
            _copy_dir_contents(tree, rel, target, opts)
        else:
            _copy_entry(str(src), str(target / os.path.basename(rel)), os.lstat(src), opts)


def _copy_file_to(tree: SourceTree, rel: str, src: Path, rootfs: Path, dest: str, into_dir: bool,
                  opts: CopyOptions) -> None:
    target = resolve_in_root(rootfs, dest)
    if into_dir or target.is_dir():
        target = make_dirs(rootfs, dest, opts.owner) / os.path.basename(rel)
    else:
        make_dirs(rootfs, os.path.dirname(dest.rstrip("/")) or "/", opts.owner)
    _copy_entry(str(src), str(target), os.lstat(src), opts)


def _copy_dir_contents(tree: SourceTree, rel: str, target: Path, opts: CopyOptions) -> None:
    """Directories and symlinks in walk order (parents first), then the regular files (``_copy_files``)."""
    dirs: list[tuple[str, os.stat_result]] = []
    files: list[tuple[str, str, os.stat_result]] = []
    skip = len(rel) + 1 if rel else 0
    root, out_root = str(tree.root), str(target)
    for path, st in tree.walk(rel):
        if path == rel:
            continue
        out = os.path.join(out_root, path[skip:])
        if stat.S_ISREG(st.st_mode):
            files.append((os.path.join(root, path), out, st))
            continue
        _copy_entry(os.path.join(root, path), out, st, opts)
        if stat.S_ISDIR(st.st_mode):
            dirs.append((out, st))
    _copy_files(files, opts)
    for out, st in reversed(dirs):  # after their contents, so copying does not bump them
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_BIG_FILE = 1 << 20   # bytes; big files are copied beside the small ones (see _copy_files)


def _copy_files(files: list[tuple[str, str, os.stat_result]], opts: CopyOptions) -> None:
    """Copy (source, target, lstat) regular files whose directories exist.

    When there are big files, a second thread copies them while this one creates the small files
    (then helps with the big ones): the kernel copies data for one while the other makes inodes.
    Small files stay on one thread, as two would only contend for the directory and the inode
    allocator. Each file is claimed once (``next`` on a list iterator is atomic under the GIL);
    the first error stops both after their current file and is raised here.
    """
    small = iter([f for f in files if f[2].st_size < _BIG_FILE])
    big = iter([f for f in files if f[2].st_size >= _BIG_FILE])
    errors: list[BaseException] = []

    def work(*queues: Iterator[tuple[str, str, os.stat_result]]) -> None:
        try:
            for queue in queues:
                for src, out, st in queue:
                    if errors:
                        return
                    _copy_file(src, out, st, _mode(st, opts), opts.owner)
        except BaseException as exc:
            errors.append(exc)

    helper = None
    if len(files) > 1 and any(f[2].st_size >= _BIG_FILE for f in files):
        helper = threading.Thread(target=work, args=(big,), name="copy-big", daemon=True)
        helper.start()
    work(small, big)
    if helper is not None:
        helper.join()
    if errors:
        raise errors[0]


def _mode(st: os.stat_result, opts: CopyOptions) -> int:
    return opts.chmod if opts.chmod is not None else stat.S_IMODE(st.st_mode)


def _copy_entry(src: str, out: str, st: os.stat_result, opts: CopyOptions) -> None:
    """One entry: content, then owner, then mode (chown clears set-id bits), then times."""
    mode = _mode(st, opts)
    if stat.S_ISREG(st.st_mode):
        _copy_file(src, out, st, mode, opts.owner)
        return
    if stat.S_ISDIR(st.st_mode):
        if not os.path.isdir(out) or os.path.islink(out):
            _remove(out)
            os.mkdir(out)
        os.lchown(out, opts.owner.uid, opts.owner.gid)
        os.chmod(out, mode)
        return
    if not stat.S_ISLNK(st.st_mode):
        return  # devices, fifos and sockets are not copied (as BuildKit's context transfer)
    _remove(out)
    os.symlink(os.readlink(src), out)
    os.lchown(out, opts.owner.uid, opts.owner.gid)
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_file(src: str, out: str, st: os.stat_result, mode: int, owner: Owner) -> None:
    """Create ``out`` with the permission bits (never set-id ones) of ``mode``, copy, fix owner and mode, times."""
    try:
        fd = os.open(out, _NEW_FILE, mode & 0o777)
    except FileExistsError:
        _remove(out)
        fd = os.open(out, _NEW_FILE, mode & 0o777)
    try:
        source = os.open(src, _READ_FILE)
        try:
            _copy_data(source, fd, st.st_size)
        finally:
            os.close(source)
        _set_owner_and_mode(fd, mode, owner)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd)


_READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def _set_owner_and_mode(fd: int, mode: int, owner: Owner) -> None:
    """fchown only when the new file's owner differs, then fchmod when its mode does (a chown clears
    set-id bits; the umask or a set-gid directory may have changed what ``open`` made)."""
    made = os.fstat(fd)
    chown = (made.st_uid, made.st_gid) != (owner.uid, owner.gid)
    if chown:
        os.fchown(fd, owner.uid, owner.gid)
    if chown or stat.S_IMODE(made.st_mode) != mode:
        os.fchmod(fd, mode)


def _copy_data(src: int, dst: int, size: int) -> None:
    """In-kernel copy (copy_file_range, else sendfile, else read/write) of ``size`` bytes."""
    left = size
    try:
        while left > 0:
            n = os.copy_file_range(src, dst, left)
            if n == 0:
                return
            left -= n
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP) or left != size:
            raise
    with os.fdopen(os.dup(src), "rb") as reader, os.fdopen(os.dup(dst), "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)


def _remove(path: str | Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def write_file(rootfs: Path, dest: str, name: str, data: bytes, opts: CopyOptions) -> None:
    """A heredoc COPY: ``data`` to ``dest`` (or ``dest/name`` when dest ends in ``/``)."""
    path = dest + name if dest.endswith("/") else dest
    make_dirs(rootfs, os.path.dirname(path.rstrip("/")) or "/", opts.owner)
    target = resolve_in_root(rootfs, path)
    _remove(target)
    target.write_bytes(data)
    os.chmod(target, opts.chmod if opts.chmod is not None else 0o644)
    os.lchown(target, opts.owner.uid, opts.owner.gid)


_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def _is_archive(path: Path) -> bool:
    import tarfile
    try:
        with open(path, "rb") as f:
            head = f.read(262)
    except OSError:
        return False
    if any(head.startswith(m) for m in _MAGIC):
        try:
            with tarfile.open(path, "r:*") as tar:
                return tar.next() is not None
        except (tarfile.TarError, OSError, EOFError):
            return False
    return len(head) >= 262 and head[257:262] == b"ustar"


def _extract(src: Path, target: Path) -> None:
    import tarfile

    from lamina.layer.untar import extract_all
    with tarfile.open(src, "r:*") as tar:
        extract_all(tar, target)
