"""``attach``: a running container's output, live, in more than one terminal, and its stdin.

Whoever watches a detached container (its monitor, or the CLI of a foreground ``run`` without
``--rm``) serves ``attach.sock`` in the container's record directory. Every chunk the container
writes goes to the log and to each attached client as a frame: docker's stdcopy header (stream
byte 1 stdout, 2 stderr, then three zero bytes and a big-endian 32-bit length) and the bytes. When
the container exits, the server sends a frame of stream 3 holding the exit status and closes.
What a client sends is the container's stdin, when it has one: the pty master of a ``-t``
container, or the pipe kept open for a ``-i`` one; otherwise it is dropped.

Socket paths: the record directory may be deeper than a socket path may be long (108 bytes), so
both ends reach the socket through ``/proc/self/fd/<dirfd>/attach.sock``.

Must not import the CLI or the engine; the client side takes plain fds.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from lamina.errors import InvalidStateTransition

SOCKET_NAME = "attach.sock"
STDOUT, STDERR, EXIT = 1, 2, 3
_STREAMS = {"stdout": STDOUT, "stderr": STDERR}
_HEADER = struct.Struct(">BxxxI")
DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q, docker's default


@contextlib.contextmanager
def _address(directory: Path) -> Iterator[str]:
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET_NAME}"
    finally:
        os.close(fd)


def frame(stream: int, data: bytes) -> bytes:
    return _HEADER.pack(stream, len(data)) + data


# ---------------------------------------------------------------- the watcher's side
class AttachServer:
    """Fans a container's output out to attached clients and feeds their input to *stdin_fd*."""

    def __init__(self, directory: Path, stdin_fd: int | None = None) -> None:
        self.path = directory / SOCKET_NAME
        self.stdin_fd = stdin_fd
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self.path.unlink(missing_ok=True)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        with _address(directory) as address:
            self._listener.bind(address)
        os.chmod(self.path, 0o600)
        self._listener.listen(8)
        threading.Thread(target=self._accept, name="attach-accept", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self._clients.append(conn)
            threading.Thread(target=self._read_input, args=(conn,), name="attach-in", daemon=True).start()

    def _read_input(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := conn.recv(65536):
                if self.stdin_fd is not None:
                    _write_all(self.stdin_fd, data)

    def send(self, stream: str, data: bytes) -> None:
        """One chunk of output to every client; a client that went away is dropped."""
        self._broadcast(frame(_STREAMS.get(stream, STDOUT), data))

    def _broadcast(self, payload: bytes) -> None:
        with self._lock:
            for conn in list(self._clients):
                try:
                    conn.sendall(payload)
                except OSError:
                    self._clients.remove(conn)
                    conn.close()

    def close(self, exit_code: int | None) -> None:
        """Tell the clients how the container ended, then stop serving."""
        if exit_code is not None:
            self._broadcast(frame(EXIT, str(exit_code).encode()))
        self._listener.close()
        self.path.unlink(missing_ok=True)
        with self._lock:
            for conn in self._clients:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._clients.clear()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------- the client
def connect(directory: Path, name: str) -> socket.socket:
    """A connection to a running container's attach socket; InvalidStateTransition without one."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        with _address(directory) as address:
            conn.connect(address)
    except OSError:
        conn.close()
        raise InvalidStateTransition(name, "attached to the terminal that started it", "attach to") from None
    return conn


def relay(conn: socket.socket, stdin_fd: int | None, stdout_fd: int, stderr_fd: int, *,
          detach_keys: bytes = b"") -> int | None:
    """Copy frames to *stdout_fd*/*stderr_fd* and *stdin_fd* to the container until it exits.

    Returns its exit status, or None when the user typed *detach_keys* or the watcher went away.
    """
    watched = [conn.fileno()] + ([stdin_fd] if stdin_fd is not None else [])
    pending, typed = b"", b""
    with conn:
        while True:
            ready, _, _ = select.select(watched, [], [])
            if stdin_fd in ready:
                data = os.read(stdin_fd, 65536)
                if detach_keys and detach_keys in (typed + data):
                    return None
                typed = (typed + data)[-len(detach_keys):] if detach_keys else b""
                if not data:
                    watched.remove(stdin_fd)
                    continue
                conn.sendall(data)
            if conn.fileno() in ready:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                pending += chunk
                pending, code = _deliver(pending, stdout_fd, stderr_fd)
                if code is not None:
                    return code


def _deliver(buffer: bytes, stdout_fd: int, stderr_fd: int) -> tuple[bytes, int | None]:
    """Write the whole frames in *buffer*; (the rest, the exit status once its frame came)."""
    while len(buffer) >= _HEADER.size:
        stream, size = _HEADER.unpack_from(buffer)
        if len(buffer) < _HEADER.size + size:
            break
        data, buffer = buffer[_HEADER.size:_HEADER.size + size], buffer[_HEADER.size + size:]
        if stream == EXIT:
            return buffer, int(data or b"0")
        _write_all(stderr_fd if stream == STDERR else stdout_fd, data)
    return buffer, None
