"""DISPATCH: instruction type -> ``dispatch_<name>(host, state, instr)``, one function per instruction.

Each handler expands the instruction (docker's rules, ``shell.expand_instruction``), then either
changes the image config and records a metadata history row (``host.meta``), or describes a
layer step to ``host.layer_step``: its cache inputs, its BuildKit ``created_by`` text and the work
to do in a writable layer. The host (``lamina.build.builder.Builder``) owns caching, progress and
the backend; handlers own Dockerfile semantics.

Must not talk to the backend directly except through the host, nor print.
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lamina.build import instructions as ins
from lamina.build.backend import BaseImage, BindMount, LayerRef, ProcessSpec, RwLayer
from lamina.build.cache import FileHasher
from lamina.build.context import (
    CopyOptions,
    Owner,
    SourceTree,
    copy_into,
    copy_sources,
    dest_is_dir,
    hash_sources,
    make_dirs,
    write_file,
)
from lamina.build.progress import Vertex
from lamina.build.shell import BuildArgs, expand_instruction
from lamina.errors import BuildFailed, DockerfileError, InvalidArgument, PathNotFound

__all__ = ["DISPATCH", "StageState", "StepHost", "go_quote_list", "layer_steps"]

DEFAULT_SHELL = ("/bin/sh", "-c")
Work = Callable[[RwLayer, Vertex], None]


@dataclass(slots=True)
class StageState:
    """A stage being built: its image config, layers, cache key chain and step counter."""

    name: str
    label: str
    image: dict[str, Any]
    layers: list[LayerRef]
    key: str
    epoch: int
    total: int
    step: int = 1
    cmd_set: bool = False
    pending_explain: list[str] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = self.image.setdefault("config", {})
        return cfg

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.config.get("Env") or []:
            name, _, value = item.partition("=")
            out[name] = value
        return out

    def set_env(self, name: str, value: str) -> None:
        items = [e for e in self.config.get("Env") or [] if e.partition("=")[0] != name]
        self.config["Env"] = [*items, f"{name}={value}"]

    @property
    def shell(self) -> tuple[str, ...]:
        return tuple(self.config.get("Shell") or DEFAULT_SHELL)

    @property
    def top(self) -> LayerRef | None:
        return self.layers[-1] if self.layers else None


class StepHost(Protocol):
    """What handlers need from the builder."""

    args: BuildArgs
    hasher: FileHasher
    file: str
    escape: str
    network: str

    def meta(self, state: StageState, instr: ins.Instruction, created_by: str) -> None: ...
    def layer_step(self, state: StageState, instr: ins.Instruction, *, kind: str, created_by: str,
                   inputs: Mapping[str, str], details: Mapping[str, str], work: Work,
                   link: bool = False) -> None: ...
    def source_tree(self, state: StageState, source: str | None,
                    instr: ins.Instruction) -> AbstractContextManager[SourceTree]: ...
    def stage_view(self, source: str, instr: ins.Instruction) -> tuple[str, AbstractContextManager[Path]]: ...
    def cache_mount_dir(self, cache_id: str) -> Path: ...
    def scratch_dir(self) -> Path: ...
    def base_image(self, name: str) -> BaseImage: ...


# ---------------------------------------------------------------- helpers
def go_quote_list(items: list[str] | tuple[str, ...]) -> str:
    """Go's ``fmt.Sprintf("%q", []string{...})``: ``["a" "b c"]``."""
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def fail(host: StepHost, instr: ins.Instruction, message: str) -> DockerfileError:
    return DockerfileError(message, file=host.file, location=instr.location,
                           instruction=instr.original.split("\n", 1)[0])


def _expand(host: StepHost, state: StageState, instr: ins.Instruction) -> Any:
    return expand_instruction(instr, host.args.expansion_env(state.env()), host.escape, host.file)


def _absolute(state: StageState, path: str) -> str:
    if path.startswith("/"):
        return path
    base = state.config.get("WorkingDir") or "/"
    joined = posixpath.join(base, path)
    return joined + "/" if path.endswith("/") and not joined.endswith("/") else joined


def layer_steps(instructions: tuple[ins.Instruction, ...]) -> int:
    """How many progress vertices a list of instructions makes (RUN/COPY/ADD/WORKDIR)."""
    return sum(1 for i in instructions if isinstance(i, ins.Run | ins.Copy | ins.Add | ins.Workdir))


# ---------------------------------------------------------------- metadata instructions
def dispatch_env(host: StepHost, state: StageState, instr: ins.Env) -> None:
    instr = _expand(host, state, instr)
    for name, value in instr.pairs:
        state.set_env(name, value)
    host.meta(state, instr, "ENV " + " ".join(f"{k}={v}" for k, v in instr.pairs))


def dispatch_label(host: StepHost, state: StageState, instr: ins.Label) -> None:
    instr = _expand(host, state, instr)
    labels = state.config.get("Labels") or {}
    labels.update(dict(instr.pairs))
    state.config["Labels"] = labels
    host.meta(state, instr, "LABEL " + " ".join(f"{k}={v}" for k, v in instr.pairs))


def dispatch_arg(host: StepHost, state: StageState, instr: ins.Arg) -> None:
    instr = _expand(host, state, instr)
    value = host.args.declare(instr.name, instr.default)
    host.meta(state, instr, f"ARG {instr.name}" + (f"={value}" if value is not None else ""))


def dispatch_user(host: StepHost, state: StageState, instr: ins.User) -> None:
    instr = _expand(host, state, instr)
    state.config["User"] = instr.user
    host.meta(state, instr, f"USER {instr.user}")


def dispatch_expose(host: StepHost, state: StageState, instr: ins.Expose) -> None:
    instr = _expand(host, state, instr)
    ports = dict(state.config.get("ExposedPorts") or {})
    for port in instr.ports:
        if not re.fullmatch(r"\d+(-\d+)?(/(tcp|udp|sctp))?", port):
            raise fail(host, instr, f"invalid containerPort: {port}")
        ports[port if "/" in port else port + "/tcp"] = {}
    state.config["ExposedPorts"] = ports
    shown = " ".join(f"{p}:{{}}" for p in sorted(ports))
    host.meta(state, instr, f"EXPOSE map[{shown}]")


def dispatch_volume(host: StepHost, state: StageState, instr: ins.Volume) -> None:
    instr = _expand(host, state, instr)
    volumes = dict(state.config.get("Volumes") or {})
    volumes.update({p: {} for p in instr.paths})
    state.config["Volumes"] = volumes
    host.meta(state, instr, f"VOLUME [{' '.join(instr.paths)}]")


def _command(state: StageState, cmd: tuple[str, ...], shell_form: bool) -> list[str]:
    return [*state.shell, *cmd] if shell_form else list(cmd)


def dispatch_cmd(host: StepHost, state: StageState, instr: ins.Cmd) -> None:
    state.config["Cmd"] = _command(state, instr.cmd, instr.shell_form)
    state.cmd_set = True
    host.meta(state, instr, "CMD " + go_quote_list(state.config["Cmd"]))


def dispatch_entrypoint(host: StepHost, state: StageState, instr: ins.Entrypoint) -> None:
    state.config["Entrypoint"] = _command(state, instr.cmd, instr.shell_form)
    if not state.cmd_set:
        state.config["Cmd"] = None
    host.meta(state, instr, "ENTRYPOINT " + go_quote_list(state.config["Entrypoint"]))


def dispatch_shell(host: StepHost, state: StageState, instr: ins.Shell) -> None:
    state.config["Shell"] = list(instr.shell)
    host.meta(state, instr, "SHELL " + go_quote_list(list(instr.shell)))


def dispatch_stopsignal(host: StepHost, state: StageState, instr: ins.Stopsignal) -> None:
    instr = _expand(host, state, instr)
    state.config["StopSignal"] = instr.signal
    host.meta(state, instr, f"STOPSIGNAL {instr.signal}")


def dispatch_maintainer(host: StepHost, state: StageState, instr: ins.Maintainer) -> None:
    state.image["author"] = instr.name
    host.meta(state, instr, f"MAINTAINER {instr.name}")


def dispatch_onbuild(host: StepHost, state: StageState, instr: ins.Onbuild) -> None:
    state.config["OnBuild"] = [*(state.config.get("OnBuild") or []), instr.expression]
    host.meta(state, instr, f"ONBUILD {instr.expression}")


def dispatch_healthcheck(host: StepHost, state: StageState, instr: ins.Healthcheck) -> None:
    check: dict[str, Any] = {"Test": list(instr.test)}
    for name, value in (("Interval", instr.interval), ("Timeout", instr.timeout),
                        ("StartPeriod", instr.start_period), ("StartInterval", instr.start_interval),
                        ("Retries", instr.retries)):
        if value:
            check[name] = value
    state.config["Healthcheck"] = check
    host.meta(state, instr, "HEALTHCHECK " + json.dumps(check, sort_keys=True))


# ---------------------------------------------------------------- WORKDIR
def dispatch_workdir(host: StepHost, state: StageState, instr: ins.Workdir) -> None:
    instr = _expand(host, state, instr)
    wd = posixpath.normpath(_absolute(state, instr.path))
    state.config["WorkingDir"] = wd
    if wd == "/":
        host.meta(state, instr, "WORKDIR /")
        return
    user = state.config.get("User") or ""

    def work(rw: RwLayer, vertex: Vertex) -> None:
        owner = layer_owner(rw, user)
        if new_dir(rw, wd, owner) is None:
            make_dirs(rw.rootfs, wd, owner)

    host.layer_step(state, instr, kind="WORKDIR", created_by=f"WORKDIR {wd}", inputs={"user": user},
                    details={}, work=work)


# ---------------------------------------------------------------- RUN
def _run_argv(state: StageState, instr: ins.Run) -> list[str]:
    if not instr.shell_form:
        return list(instr.cmd)
    script = instr.cmd[0] if instr.cmd else ""
    docs = instr.heredocs
    if docs and script.strip() in (f"<<{docs[0].name}", f"<<-{docs[0].name}") and len(docs) == 1:
        return [*state.shell, docs[0].text]
    if docs:
        script += "\n" + "".join(d.text + d.name + "\n" for d in docs)
    return [*state.shell, script]


def dispatch_run(host: StepHost, state: StageState, instr: ins.Run) -> None:
    instr = _expand(host, state, instr)
    argv = _run_argv(state, instr)
    env = state.env()
    arg_env = host.args.history_env(env)
    prefix = f"|{len(arg_env)} {' '.join(arg_env)} " if arg_env else ""
    created_by = f"RUN {prefix}{' '.join(argv)} # buildkit"
    network = instr.network or host.network
    inputs = {"env:" + k: v for k, v in env.items()}
    inputs.update({"arg:" + a.partition("=")[0]: a.partition("=")[2] for a in arg_env})
    inputs.update({"workdir": state.config.get("WorkingDir") or "/", "user": state.config.get("User") or "",
                   "network": network})
    mounts = _prepare_mounts(host, state, instr, inputs)
    run_env = {**{k: v for k, v in env.items()}, **host.args.run_env(env)}
    run_env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")

    def work(rw: RwLayer, vertex: Vertex) -> None:
        with ExitStack() as stack:
            binds = tuple(opener(stack) for opener in mounts)
            spec = ProcessSpec(args=tuple(argv), env=tuple(f"{k}={v}" for k, v in run_env.items()),
                               cwd=state.config.get("WorkingDir") or "/", user=state.config.get("User") or "",
                               network=network if network in ("none", "host") else "default",  # type: ignore[arg-type]
                               mounts=binds)
            code = rw.run(spec, vertex.output)
        vertex.flush()
        if code != 0:
            raise BuildFailed(f'process "{" ".join(argv)}" did not complete successfully: exit code: {code}',
                              status=code, output=tuple(vertex.tail), file=host.file,
                              location=instr.location, instruction=instr.original.split("\n", 1)[0])

    host.layer_step(state, instr, kind="RUN", created_by=created_by, inputs=inputs, details={}, work=work)


MountOpener = Callable[[ExitStack], BindMount]


def _prepare_mounts(host: StepHost, state: StageState, instr: ins.Run,
                    inputs: dict[str, str]) -> list[MountOpener]:
    openers: list[MountOpener] = []
    for n, mount in enumerate(instr.mounts):
        target = _absolute(state, mount.target) if mount.target else ""
        if not target:
            raise fail(host, instr, "mount target is required")
        inputs[f"mount:{n}"] = mount.spec
        if mount.type == "cache":
            cache = BindMount(kind="bind", target=target, source=host.cache_mount_dir(mount.id or target),
                              readonly=mount.readonly)
            openers.append(_fixed(cache))
        elif mount.type == "tmpfs":
            openers.append(_fixed(BindMount(kind="tmpfs", target=target, readonly=False)))
        elif mount.type == "bind":
            openers.append(_bind_opener(host, state, instr, mount, target, inputs, n))
        else:
            raise fail(host, instr, f"mount type {mount.type!r} is not supported by lamina build")
    return openers


def _fixed(mount: BindMount) -> MountOpener:
    def opener(_stack: ExitStack) -> BindMount:
        return mount
    return opener


def _bind_opener(host: StepHost, state: StageState, instr: ins.Run, mount: ins.RunMount, target: str,
                 inputs: dict[str, str], n: int) -> MountOpener:
    source = mount.source.lstrip("/")
    if mount.from_:
        stage_key, view = host.stage_view(mount.from_, instr)
        inputs[f"mount:{n}:from"] = stage_key

        def from_stage(stack: ExitStack) -> BindMount:
            root = stack.enter_context(view)
            return _bind(host, stack, root / source, target, readonly=mount.readonly)
        return from_stage
    with host.source_tree(state, None, instr) as tree:
        rels = tree.select(source or ".") if source else [""]
        inputs[f"mount:{n}:files"], _ = hash_sources(tree, rels, host.hasher)
        root = tree.root

    def from_context(stack: ExitStack) -> BindMount:
        return _bind(host, stack, root / source, target, readonly=mount.readonly)
    return from_context


def _bind(host: StepHost, stack: ExitStack, source: Path, target: str, *, readonly: bool) -> BindMount:
    """A bind of *source*; a writable one (``rw``) binds a scratch copy, removed after the step.

    BuildKit throws a writable bind mount's writes away: they must never reach the build
    context on the host or the stage the mount comes from.
    """
    if readonly:
        return BindMount(kind="bind", target=target, source=source, readonly=True)
    from lamina._internal.fsops import rmtree
    from lamina.driver.copy import copy_tree
    scratch = host.scratch_dir()
    stack.callback(rmtree, scratch)
    duplicate = scratch / "source"
    if source.is_dir():
        copy_tree(source, duplicate)
    else:
        shutil.copy2(source, duplicate, follow_symlinks=False)
        st = source.lstat()
        os.lchown(duplicate, st.st_uid, st.st_gid)
    return BindMount(kind="bind", target=target, source=duplicate, readonly=False)


# ---------------------------------------------------------------- COPY / ADD
def new_dir(rw: RwLayer, path: str, owner: Owner) -> Path | None:
    """``rw.new_dir`` when the backend's layer has it (see ``backend.RwLayer``), else None."""
    make = getattr(rw, "new_dir", None)
    found: Path | None = None if make is None else make(path, owner.uid, owner.gid)
    return found


def _numeric_owner(spec: str) -> bool:
    """True when ``--chown`` needs no /etc/passwd: ``--link`` builds on an empty tree, so a user
    *name* is resolved against the stage like a plain COPY (the layer is then not linked)."""
    user, _, group = spec.partition(":")
    return not spec or (user.isdigit() and (group.isdigit() or not group))


def layer_owner(rw: RwLayer, spec: str) -> Owner:
    """``--chown``/``USER`` as an Owner; only a name makes it read the layer's /etc files."""
    if not spec:
        return Owner()
    if _numeric_owner(spec):
        user, _, group = spec.partition(":")
        return Owner(int(user), int(group or user))
    return resolve_owner(rw.rootfs, spec)


def resolve_owner(rootfs: Path, spec: str) -> Owner:
    """``user[:group]`` by name or number, names looked up in the rootfs's /etc/passwd and group."""
    user, _, group = spec.partition(":")
    passwd = None if user.isdigit() else _table_row(rootfs / "etc/passwd", user)
    uid = int(user) if user.isdigit() else (int(passwd[2]) if passwd else None)
    if group:
        row = None if group.isdigit() else _table_row(rootfs / "etc/group", group)
        gid = int(group) if group.isdigit() else (int(row[2]) if row else None)
    else:
        gid = int(passwd[3]) if passwd else uid
    if uid is None or gid is None:
        raise InvalidArgument(f"resolve user {spec!r}: no such user or group in the image")
    return Owner(uid, gid)


def _table_row(table: Path, name: str) -> list[str] | None:
    try:
        lines = table.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) > 3 and fields[0] == name and fields[2].isdigit():
            return fields
    return None


def _chmod(host: StepHost, instr: ins.Instruction, text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(text, 8)
    except ValueError:
        raise fail(host, instr, f"invalid chmod parameter {text!r}: must be an octal mode") from None


def dispatch_copy(host: StepHost, state: StageState, instr: ins.Copy | ins.Add) -> None:
    instr = _expand(host, state, instr)
    is_add = isinstance(instr, ins.Add)
    if is_add:
        _refuse_remote(host, instr)
    dest = _absolute(state, instr.dest)
    keyword = "ADD" if is_add else "COPY"
    words = [*instr.sources, *(f"<<{d.name}" for d in instr.heredocs), instr.dest]
    created_by = f"{keyword} {' '.join(words)} # buildkit"
    chmod = _chmod(host, instr, instr.chmod)
    unpack = is_add and instr.unpack is not False  # type: ignore[union-attr]
    from_ = None if is_add else instr.from_  # type: ignore[union-attr]
    with _sources(host, state, instr, from_) as (tree, rels):
        inputs = {"dest": dest, "chown": instr.chown or "", "chmod": instr.chmod or "",
                  "from": from_ or "", "unpack": str(unpack)}
        details: dict[str, str] = {}
        if tree is not None:
            inputs["files"], details = hash_sources(tree, rels, host.hasher)
        if len(rels) + len(instr.heredocs) > 1 and not dest.endswith("/"):
            raise fail(host, instr, f"when using {keyword} with more than one source file, "
                                    "the destination must be a directory and end with a /")

        def work(rw: RwLayer, vertex: Vertex) -> None:
            opts = CopyOptions(owner=layer_owner(rw, instr.chown or ""), chmod=chmod, unpack=unpack)
            if tree is not None:
                into = new_dir(rw, dest, opts.owner) if not unpack and dest_is_dir(tree, rels, dest) else None
                if into is not None:
                    copy_into(tree, rels, into, opts)
                else:
                    copy_sources(tree, rels, rw.rootfs, dest, opts)
            for doc in instr.heredocs:
                write_file(rw.rootfs, dest, doc.name, doc.text.encode(), opts)

        host.layer_step(state, instr, kind=keyword, created_by=created_by, inputs=inputs, details=details,
                        work=work, link=instr.link and _numeric_owner(instr.chown or ""))


class _Sources:
    """Opens the source tree of a COPY (context, stage or image) and selects its sources."""

    def __init__(self, host: StepHost, state: StageState, instr: ins.Copy | ins.Add, from_: str | None):
        self.host, self.state, self.instr, self.from_ = host, state, instr, from_
        self.stack = ExitStack()

    def __enter__(self) -> tuple[SourceTree | None, list[str]]:
        if not self.instr.sources:
            return None, []
        tree = self.stack.enter_context(self.host.source_tree(self.state, self.from_, self.instr))
        try:
            rels = [rel for source in self.instr.sources for rel in tree.select(source)]
        except PathNotFound as exc:
            self.stack.close()
            first = self.instr.original.split("\n", 1)[0]
            raise BuildFailed(f"{self.host.file}:{self.instr.location[0]}: {first}: {exc.message}",
                              file=self.host.file, location=self.instr.location, instruction=first) from None
        except BaseException:
            self.stack.close()
            raise
        return tree, rels

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


def _sources(host: StepHost, state: StageState, instr: ins.Copy | ins.Add, from_: str | None) -> _Sources:
    return _Sources(host, state, instr, from_)


def _refuse_remote(host: StepHost, instr: ins.Instruction) -> None:
    for source in getattr(instr, "sources", ()):
        if re.match(r"^(https?|git)://|^git@", source):
            raise fail(host, instr, f"ADD {source}: remote sources are not supported "
                                    "(lamina builds offline; download it into the context)")


# ---------------------------------------------------------------- the table
Handler = Callable[[StepHost, StageState, Any], None]

DISPATCH: dict[type[ins.Instruction], Handler] = {
    ins.Env: dispatch_env, ins.Label: dispatch_label, ins.Arg: dispatch_arg, ins.User: dispatch_user,
    ins.Expose: dispatch_expose, ins.Volume: dispatch_volume, ins.Cmd: dispatch_cmd,
    ins.Entrypoint: dispatch_entrypoint, ins.Shell: dispatch_shell, ins.Stopsignal: dispatch_stopsignal,
    ins.Maintainer: dispatch_maintainer, ins.Onbuild: dispatch_onbuild, ins.Healthcheck: dispatch_healthcheck,
    ins.Workdir: dispatch_workdir, ins.Run: dispatch_run, ins.Copy: dispatch_copy, ins.Add: dispatch_copy,
}


def onbuild_instructions(triggers: list[str], file: str) -> Iterator[ins.Instruction]:
    """Parse a base image's ``OnBuild`` triggers into instructions."""
    for trigger in triggers:
        parsed = ins.parse_dockerfile("FROM scratch\n" + trigger, file=f"{file} (ONBUILD trigger)")
        yield from parsed.stages[0].instructions


def new_image_config(base: BaseImage | None, default: dict[str, Any]) -> dict[str, Any]:
    """The config a stage starts from: the base's fields BuildKit keeps (or ``default`` for scratch)."""
    if base is None:
        return copy.deepcopy(default)
    src = base.config
    out: dict[str, Any] = {"architecture": src.get("architecture") or default["architecture"],
                           "os": src.get("os") or "linux"}
    if src.get("variant"):
        out["variant"] = src["variant"]
    out["config"] = copy.deepcopy(src.get("config") or {})
    out["created"] = src.get("created") or default["created"]
    out["rootfs"] = {"type": "layers", "diff_ids": list((src.get("rootfs") or {}).get("diff_ids") or [])}
    out["history"] = copy.deepcopy(src.get("history") or [])
    return out


def copy_display(text: str) -> str:
    """An instruction's original text on one line, for progress names."""
    first = text.split("\n", 1)[0] if "<<" in text else re.sub(r"\\\s*\n\s*", " ", text)
    return " ".join(first.split()) if len(first) > 200 else first.strip()

