"""docker-run flags as data (``lamina.cli.flags``), their click-free parse, and the ``run``/``create`` bodies.

``create`` and ``run`` build their click options from ``RUN_FLAGS`` (one definition). The same
table drives ``parse_run``, which ``lamina.cli.main`` tries first for ``lamina run …``: click
costs ~10 ms to import, a fifth of a whole ``run --rm IMAGE true``. Options stop at IMAGE.

Must not import click or rich, and must not hold business logic: it turns flags into a
``ContainerSpec`` and hands it to ``engine.containers``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence

from lamina.cli.flags import FLAG, MULTI, Flag, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from lamina.engine.containers import ContainerSpec
    from lamina.engine.engine import Engine

    _T = TypeVar("_T")

ATTACH_STREAMS = ("stdin", "stdout", "stderr")


RUN_FLAGS: tuple[Flag, ...] = (
    Flag(("-e", "--env"), "env", MULTI, help="Set environment variables"),
    Flag(("--env-file",), "env_file", MULTI, help="Read in a file of environment variables"),
    Flag(("-w", "--workdir"), "workdir", help="Working directory inside the container"),
    Flag(("-u", "--user"), "user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag(("--entrypoint",), "entrypoint", help="Overwrite the default ENTRYPOINT of the image"),
    Flag(("-h", "--hostname"), "hostname", help="Container host name"),
    Flag(("--name",), "name", help="Assign a name to the container"),
    Flag(("-i", "--interactive"), "interactive", FLAG, help="Keep STDIN open even if not attached"),
    Flag(("-t", "--tty"), "tty", FLAG, help="Allocate a pseudo-TTY"),
    Flag(("--read-only",), "read_only", FLAG, help="Mount the container's root filesystem as read only"),
    Flag(("--network", "--net"), "network", help="Connect a container to a network (bridge, none, host)",
         default="default"),
    Flag(("--network-alias",), "network_alias", MULTI, help="Add network-scoped alias for the container"),
    Flag(("--ip",), "ip", help="IPv4 address (e.g., 172.30.100.104) on a user-defined network"),
    Flag(("--mac-address",), "mac_address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    Flag(("-p", "--publish"), "publish", MULTI, help="Publish a container's port(s) to the host"),
    Flag(("-P", "--publish-all"), "publish_all", FLAG, help="Publish all exposed ports to random ports"),
    Flag(("--expose",), "expose", MULTI, help="Expose a port or a range of ports"),
    Flag(("--domainname",), "domainname", help="Container NIS domain name"),
    Flag(("--platform",), "platform", help="Set platform if server is multi-platform capable (os/arch)"),
    Flag(("--restart",), "restart", help="Restart policy to apply when a container exits", default="no"),
    Flag(("--init",), "init", FLAG, help="Run an init inside the container that forwards signals and reaps processes"),
    Flag(("--add-host",), "add_host", MULTI, help="Add a custom host-to-IP mapping (host:ip)"),
    Flag(("--dns",), "dns", MULTI, help="Set custom DNS servers"),
    Flag(("--dns-search",), "dns_search", MULTI, help="Set custom DNS search domains"),
    Flag(("--dns-option",), "dns_option", MULTI, help="Set DNS options"),
    Flag(("-m", "--memory"), "memory", help="Memory limit"),
    Flag(("--cpus",), "cpus", type=float, help="Number of CPUs"),
    Flag(("--pids-limit",), "pids_limit", type=int, help="Tune container pids limit (set -1 for unlimited)"),
    Flag(("-v", "--volume"), "volumes", MULTI, help="Bind mount a volume"),
    Flag(("--mount",), "mounts", MULTI, help="Attach a filesystem mount to the container"),
    Flag(("--volumes-from",), "volumes_from", MULTI, help="Mount volumes from the specified container(s)"),
    Flag(("--tmpfs",), "tmpfs", MULTI, help="Mount a tmpfs directory"),
    Flag(("--privileged",), "privileged", FLAG, help="Give extended privileges to this container"),
    Flag(("--cap-add",), "cap_add", MULTI, help="Add Linux capabilities"),
    Flag(("--cap-drop",), "cap_drop", MULTI, help="Drop Linux capabilities"),
    Flag(("--ulimit",), "ulimit", MULTI, help="Ulimit options (name=soft[:hard])"),
    Flag(("--shm-size",), "shm_size", help="Size of /dev/shm"),
    Flag(("--stop-signal",), "stop_signal", help="Signal to stop the container"),
    Flag(("--stop-timeout",), "stop_timeout", type=int, help="Timeout (in seconds) to stop a container"),
    Flag(("--cgroup-parent",), "cgroup_parent", help="Optional parent cgroup for the container"),
    Flag(("--oom-score-adj",), "oom_score_adj", type=int, help="Tune host's OOM preferences (-1000 to 1000)"),
    Flag(("--security-opt",), "security_opt", MULTI,
         help="Security options (no-new-privileges, seccomp=unconfined|PROFILE.json)"),
    Flag(("-l", "--label"), "label", MULTI, help="Set meta data on a container (key=value)"),
    Flag(("--label-file",), "label_file", MULTI, help="Read in a line delimited file of labels"),
    Flag(("--device",), "device", MULTI, help="Add a host device to the container (HOST[:CONTAINER][:PERMS])"),
    Flag(("--pid",), "pid", help="PID namespace to use (host)", default=""),
    Flag(("--ipc",), "ipc", help="IPC mode to use (host, private)", default=""),
    Flag(("--uts",), "uts", help="UTS namespace to use (host)", default=""),
    Flag(("--sysctl",), "sysctl", MULTI, help="Sysctl options (namespaced ones: net.*, kernel.shm*, ...)"),
    Flag(("-c", "--cpu-shares"), "cpu_shares", type=int, help="CPU shares (relative weight)"),
    Flag(("--cpuset-cpus",), "cpuset_cpus", help="CPUs in which to allow execution (0-3, 0,1)"),
    Flag(("--memory-swap",), "memory_swap",
         help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    Flag(("--memory-reservation",), "memory_reservation", help="Memory soft limit"),
    Flag(("--group-add",), "group_add", MULTI, help="Add additional groups to join"),
    Flag(("--cidfile",), "cidfile", help="Write the container ID to the file"),
    Flag(("--pull",), "pull", help='Pull image before running ("always", "missing", "never")', default="missing",
         choices=("always", "missing", "never")),
    Flag(("--log-driver",), "log_driver", help="Logging driver for the container (json-file, none)",
         default="json-file"),
    Flag(("--log-opt",), "log_opt", MULTI, help="Log driver options (max-size, max-file)"),
    Flag(("--health-cmd",), "health_cmd", help="Command to run to check health"),
    Flag(("--health-interval",), "health_interval", help="Time between running the check (ms|s|m|h)"),
    Flag(("--health-timeout",), "health_timeout", help="Maximum time to allow one check to run (ms|s|m|h)"),
    Flag(("--health-retries",), "health_retries", type=int, help="Consecutive failures needed to report unhealthy"),
    Flag(("--health-start-period",), "health_start_period",
         help="Start period for the container to initialize before counting retries (ms|s|m|h)"),
    Flag(("--no-healthcheck",), "no_healthcheck", FLAG, help="Disable any container-specified HEALTHCHECK"),
)

RUN_ONLY_FLAGS: tuple[Flag, ...] = (
    Flag(("-d", "--detach"), "detach", FLAG, help="Run container in background and print container ID"),
    Flag(("--rm",), "auto_remove", FLAG, help="Automatically remove the container when it exits"),
    Flag(("-a", "--attach"), "attach_streams", MULTI, help="Attach to STDIN, STDOUT or STDERR",
         choices=ATTACH_STREAMS),
)


class RunArgs:
    """A parsed ``run``: its options (as click would pass them), IMAGE and COMMAND."""

    __slots__ = ("command", "image", "opts")

    def __init__(self, opts: dict[str, Any], image: str, command: tuple[str, ...]) -> None:
        self.opts, self.image, self.command = opts, image, command


def parse_run(args: Sequence[str]) -> RunArgs | None:
    """``[OPTIONS] IMAGE [COMMAND…]`` of ``run``; None when click should parse it instead."""
    parsed = parse(RUN_FLAGS + RUN_ONLY_FLAGS, args, interspersed=False, min_args=1, max_args=None)
    if parsed is None:
        return None
    opts, positionals = parsed
    return RunArgs(opts, positionals[0], tuple(positionals[1:]))


# ---------------------------------------------------------------- flags -> ContainerSpec
def host_env(items: list[str]) -> list[str]:
    """"KEY" alone takes the host's value (dropped when unset), as docker does."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def env_files(paths: tuple[str, ...]) -> list[str]:
    return host_env(_file_lines(paths))


def _file_lines(paths: tuple[str, ...]) -> list[str]:
    """The stripped lines of docker's ``--env-file``/``--label-file`` files, blank and ``#`` lines dropped."""
    from lamina.errors import InvalidOption
    out: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise InvalidOption(f"open {path}: {exc.strerror}") from None
        out += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return out


def _ulimits(items: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    from lamina.errors import InvalidOption
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        soft, _, hard = value.partition(":")
        try:
            out[name] = (int(soft), int(hard or soft))
        except ValueError:
            raise InvalidOption(f"invalid ulimit argument: {item}") from None
    return out


def _volume_requests(volumes: tuple[str, ...], mounts: tuple[str, ...], tmpfs: tuple[str, ...]) -> list[Any]:
    if not (volumes or mounts or tmpfs):
        return []  # the volumes module stays off the plain ``run`` path
    from lamina.container.volumes import VolumeRequest, parse_mount, parse_volume
    requests = [parse_volume(v) for v in volumes] + [parse_mount(m) for m in mounts]
    for item in tmpfs:
        dest, _, opts = item.partition(":")
        requests.append(VolumeRequest(kind="tmpfs", destination=dest, options=tuple(o for o in opts.split(",") if o)))
    return requests


def _labels(items: tuple[str, ...], files: tuple[str, ...]) -> dict[str, str]:
    """``--label-file`` lines, then ``-l`` (a later key wins); "key" alone is an empty value, as in docker."""
    if not (items or files):
        return {}
    from lamina.errors import InvalidOption
    out = {}
    for item in [*_file_lines(files), *items]:
        key, _, value = item.partition("=")
        if not key:
            raise InvalidOption(f"invalid label '{item}': empty name")
        out[key] = value
    return out


def _sysctls(items: tuple[str, ...]) -> dict[str, str]:
    from lamina.errors import InvalidOption
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidOption(f"invalid sysctl value {item!r}: it must be key=value")
        out[key] = value
    return out


_HEALTH_FLAGS = (("health_interval", "Interval", "--health-interval"),
                 ("health_timeout", "Timeout", "--health-timeout"),
                 ("health_start_period", "StartPeriod", "--health-start-period"))


def _health(opts: dict[str, Any]) -> dict[str, Any] | None:
    """The ``--health-*`` flags as docker's ``Healthcheck`` object (durations in ns); None without any."""
    given = opts["health_cmd"] or opts["health_retries"] is not None or any(opts[k] for k, _, _ in _HEALTH_FLAGS)
    from lamina.errors import InvalidOption
    if opts["no_healthcheck"]:
        if given:
            raise InvalidOption("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    from lamina.cli.humanize import parse_go_duration
    out: dict[str, Any] = {"Test": ["CMD-SHELL", opts["health_cmd"]]} if opts["health_cmd"] else {}
    for key, name, flag in _HEALTH_FLAGS:
        if opts[key]:
            out[name] = parse_go_duration(opts[key], flag)
            if name != "StartPeriod" and out[name] < 1_000_000:
                raise InvalidOption(f"{flag} cannot be less than 1ms")
    if opts["health_retries"] is not None:
        if opts["health_retries"] < 0:
            raise InvalidOption("--health-retries cannot be negative")
        out["Retries"] = opts["health_retries"]
    return out


def _log_opts(driver: str | None, items: Sequence[str]) -> dict[str, str]:
    """``--log-opt``s, checked as docker's json-file driver does (max-size a size, max-file a count > 0)."""
    from lamina.errors import InvalidOption
    if (driver or "json-file") not in ("json-file", "none"):
        raise InvalidOption(f"logging driver {driver!r} is not supported (json-file, none)")
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in ("max-size", "max-file") or driver == "none":
            raise InvalidOption(f"unknown log opt '{key}' for {driver or 'json-file'} log driver")
        out[key] = value
    if "max-size" in out:
        _size(out["max-size"])
    if "max-file" in out and (not out["max-file"].isdigit() or int(out["max-file"]) < 1):
        raise InvalidOption("max-file cannot be less than 1")
    if "max-file" in out and int(out["max-file"]) > 1 and "max-size" not in out:
        raise InvalidOption("max-file cannot be greater than 1 without max-size")
    return out


def _swap(text: str | None) -> int | None:
    if text is None:
        return None
    return -1 if text.strip() == "-1" else _size(text)


def _size(text: str) -> int:
    from lamina.cli.humanize import parse_size  # only when a size flag was given
    return parse_size(text)


def _restart(opts: dict[str, Any], auto_remove: bool) -> str:
    """``--restart``, checked as docker does; lamina also needs ``-d`` (or create) to honour one."""
    policy = opts["restart"] or "no"
    if policy == "no":
        return policy
    from lamina.container.monitor import parse_restart
    from lamina.errors import InvalidOption
    parse_restart(policy)
    if auto_remove:
        raise InvalidOption("conflicting options: cannot specify both --restart and --rm")
    if "detach" in opts and not opts["detach"]:
        raise InvalidOption("--restart needs -d: without a daemon, only a detached container's monitor "
                            "can start it again")
    return policy


def _security(security_opts: Sequence[str]) -> dict[str, Any]:
    """``--security-opt``, docker's forms (``key=value`` or ``key:value``): ``seccomp=unconfined|PATH``,
    ``no-new-privileges[=true|false]``, ``systempaths=unconfined``; ``apparmor=…`` and ``label=…`` are
    accepted and have nothing to act on (this kernel has neither LSM). Anything else is refused."""
    from lamina.errors import InvalidOption
    out: dict[str, Any] = {"seccomp": "default", "no_new_privileges": False, "system_paths": True}
    for item in security_opts:
        key, sep, value = item.replace(":", "=", 1).partition("=")
        if key == "seccomp" and sep:
            out["seccomp"] = value or "default"
        elif key == "no-new-privileges" and value in ("", "true", "false"):
            out["no_new_privileges"] = value != "false"
        elif key == "systempaths" and value == "unconfined":
            out["system_paths"] = False
        elif key not in ("apparmor", "label") or not sep:
            raise InvalidOption(f'invalid --security-opt: "{item}"')
    return out


def _network(name: str) -> tuple[str, str | None]:
    """(mode, user network name): a name that is not docker's bridge, host or none is a user network."""
    builtin = {"default": "bridge", "bridge": "bridge", "none": "none", "host": "host"}.get(name)
    return (builtin, None) if builtin else ("bridge", name)


def _published(network: str, opts: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
    """``-p`` specs in canonical form and ``-P``, checked against the network as docker does."""
    if not opts["publish"] and not opts["publish_all"]:
        return (), False
    from lamina.errors import InvalidOption
    from lamina.network.ports import parse_publish
    specs = tuple(m.spec for text in opts["publish"] for m in parse_publish(text))
    if network == "none":
        raise InvalidOption("conflicting options: port publishing and the container type network mode")
    if network == "host":
        import sys
        sys.stderr.write("WARNING: Published ports are discarded when using host network mode\n")
        return (), False
    return specs, bool(opts["publish_all"])


def _aliases(aliases: Sequence[str], network_name: str | None) -> tuple[str, ...]:
    if aliases and network_name is None:
        from lamina.errors import InvalidOption
        raise InvalidOption("network-scoped aliases are only supported for user-defined networks")
    return tuple(aliases)


def _address(ip: str | None, network_name: str | None) -> str | None:
    if ip is None:
        return None
    from lamina.errors import InvalidOption
    if network_name is None:
        raise InvalidOption("user specified IP address is supported on user defined networks only")
    import ipaddress
    try:
        return str(ipaddress.IPv4Address(ip))
    except ValueError:
        raise InvalidOption(f"invalid IPv4 address: {ip}") from None


def _mac(mac: str | None, network: str) -> str | None:
    if mac is None:
        return None
    from lamina.errors import InvalidOption
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise InvalidOption(f"{mac} is not a valid mac address")
    if network != "bridge":
        raise InvalidOption("conflicting options: mac-address and the network mode")
    return mac.lower()


def _expose(items: Sequence[str], platform: str | None) -> tuple[str, ...]:
    """``--expose 80``, ``--expose 7000-7002/udp`` as ExposedPorts keys; ``--platform`` is checked here
    too (lamina runs this host's platform only)."""
    from lamina.errors import InvalidOption
    if platform is not None:
        _check_platform(platform)
    out = []
    for item in items:
        ports, _, proto = item.partition("/")
        low, _, high = ports.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or proto not in ("", "tcp", "udp", "sctp"):
            raise InvalidOption(f"invalid range format for --expose: {item}")
        out += [f"{port}/{proto or 'tcp'}" for port in range(int(low), int(high or low) + 1)]
    return tuple(out)


def _check_platform(platform: str) -> None:
    import platform as host

    from lamina.errors import InvalidOption
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(host.machine(), host.machine())
    os_name, _, rest = platform.partition("/")
    if os_name != "linux" or rest.split("/")[0] not in ("", arch):
        raise InvalidOption(f'image platform "{platform}" does not match the host platform "linux/{arch}"')


def _joins(opts: dict[str, Any]) -> dict[str, str]:
    """``--network/--pid/--ipc container:NAME``: the namespaces to share with another container."""
    join = {kind: str(opts[kind]).removeprefix("container:") for kind in ("network", "pid", "ipc")
            if str(opts[kind] or "").startswith("container:")}
    if "network" not in join:
        return join
    from lamina.errors import InvalidOption
    for key, what in (("hostname", "hostname"), ("add_host", "custom host-to-IP mapping"), ("dns", "DNS settings"),
                      ("publish", "port publishing"), ("publish_all", "port publishing")):
        if opts[key]:
            raise InvalidOption(f"conflicting options: {what} and the network mode")
    return join


def _limits(opts: dict[str, Any]) -> dict[str, Any]:
    """The resource flags, as ``RunOptions`` fields."""
    def size(key: str) -> int | None:
        return _size(opts[key]) if opts[key] else None
    return {"memory": size("memory"), "memory_reservation": size("memory_reservation"),
            "memory_swap": _swap(opts["memory_swap"]), "cpus": opts["cpus"], "cpu_shares": opts["cpu_shares"],
            "cpuset_cpus": opts["cpuset_cpus"], "pids_limit": opts["pids_limit"], "ulimits": _ulimits(opts["ulimit"]),
            "shm_size": size("shm_size") or 64 * 1024 * 1024}


def build_spec(image: str, command: tuple[str, ...], opts: dict[str, Any], *,
               auto_remove: bool = False) -> ContainerSpec:
    """The ``ContainerSpec`` for docker-run flags (``opts`` as click or ``parse_run`` passed them)."""
    from lamina.container.ocispec import RunOptions
    from lamina.engine.containers import ContainerSpec
    entrypoint = None if opts["entrypoint"] is None else ([opts["entrypoint"]] if opts["entrypoint"] else [])
    options = RunOptions(
        args=tuple(command), entrypoint=entrypoint,
        env=tuple(env_files(opts["env_file"]) + host_env(list(opts["env"]))),
        workdir=opts["workdir"], user=opts["user"], hostname=opts["hostname"], tty=opts["tty"],
        read_only=opts["read_only"], privileged=opts["privileged"], cap_add=tuple(opts["cap_add"]),
        cap_drop=tuple(opts["cap_drop"]), cgroup_parent=opts["cgroup_parent"], oom_score_adj=opts["oom_score_adj"],
        **_security(opts["security_opt"]), init=opts["init"], restart=_restart(opts, auto_remove),
        devices=tuple(opts["device"]), uts=opts["uts"] or "", sysctls=_sysctls(opts["sysctl"]),
        group_add=tuple(opts["group_add"]), health=_health(opts), domainname=opts["domainname"],
        **_network_fields(opts), **_log_fields(opts), **_limits(opts))
    if options.extra_hosts or options.dns:
        from lamina.container.ocispec import check_network_options
        check_network_options(options)
    return ContainerSpec(image=image, options=options,
                         volumes=_volume_requests(opts["volumes"], opts["mounts"], opts["tmpfs"]),
                         name=opts["name"], auto_remove=auto_remove, interactive=opts["interactive"],
                         stop_signal=opts["stop_signal"], stop_timeout=opts["stop_timeout"],
                         labels=_labels(opts["label"], opts["label_file"]),
                         volumes_from=tuple(opts["volumes_from"]))


def _network_fields(opts: dict[str, Any]) -> dict[str, Any]:
    """The network and namespace-sharing flags, as ``RunOptions`` fields."""
    join = _joins(opts)
    network, network_name = ("none", None) if "network" in join else _network(opts["network"])
    publish, publish_all = _published(network, opts)
    return {"network": network, "network_name": network_name, "join": join,
            "network_aliases": _aliases(opts["network_alias"], network_name),
            "ip": _address(opts["ip"], network_name), "mac_address": _mac(opts["mac_address"], network),
            "publish": publish, "publish_all": publish_all, "expose": _expose(opts["expose"], opts["platform"]),
            "extra_hosts": tuple(opts["add_host"]), "dns": tuple(opts["dns"]),
            "dns_search": tuple(opts["dns_search"]), "dns_options": tuple(opts["dns_option"]),
            "pid": "" if "pid" in join else opts["pid"] or "", "ipc": "" if "ipc" in join else opts["ipc"] or ""}


def _log_fields(opts: dict[str, Any]) -> dict[str, Any]:
    log_opts = _log_opts(opts["log_driver"], opts["log_opt"])
    return {"log_driver": opts["log_driver"] or "json-file", "log_opts": log_opts,
            "log_max_size": _size(log_opts["max-size"]) if "max-size" in log_opts else None}


def run(engine: Engine, image: str, command: tuple[str, ...], opts: dict[str, Any]) -> int:
    """``lamina run``: the exit status to end with (the container's, or 0 for ``-d``)."""
    from lamina.container.monitor import Attach
    from lamina.errors import InvalidOption
    detach, streams = opts["detach"], opts["attach_streams"]
    if detach and streams:
        raise InvalidOption("conflicting options: cannot specify both --attach and --detach")
    if opts["tty"] and opts["interactive"] and not detach and not os.isatty(0):
        raise InvalidOption("the input device is not a TTY")
    spec = build_spec(image, command, opts, auto_remove=opts["auto_remove"])
    attach = None
    if not detach:
        wanted = {s.lower() for s in streams} or {"stdout", "stderr"} | ({"stdin"} if opts["interactive"] else set())
        attach = Attach(stdin=0 if "stdin" in wanted else None, stdout=1 if "stdout" in wanted else None,
                        stderr=2 if "stderr" in wanted else None)
    if opts["cidfile"]:   # docker's order: the file exists before the container, and names it before it starts
        with _cidfile(opts["cidfile"]) as record_id:
            container = _pulling(engine, spec.image, opts["pull"], lambda: engine.containers.create(spec))
            record_id(container.id)
        code = engine.containers.start(container.id, attach=attach)
    else:
        container, code = _pulling(engine, spec.image, opts["pull"],
                                   lambda: engine.containers.run(spec, attach=attach))
    if detach:
        _echo(container.id)
    return code


def create(engine: Engine, image: str, command: tuple[str, ...], opts: dict[str, Any]) -> str:
    """``lamina create``: the new container's id."""
    spec = build_spec(image, command, opts)
    if not opts["cidfile"]:
        return _pulling(engine, spec.image, opts["pull"], lambda: engine.containers.create(spec)).id
    with _cidfile(opts["cidfile"]) as record_id:
        container = _pulling(engine, spec.image, opts["pull"], lambda: engine.containers.create(spec))
        record_id(container.id)
    return container.id



def _pulling(engine: Engine, image: str, policy: str, action: Callable[[], _T]) -> _T:
    """docker's ``--pull``: *action* after a pull ("always"), or after one when the image is not
    here ("missing", the default, with docker's "Unable to find image" line), or never."""
    from lamina.errors import ImageNotFound
    from lamina.reference import looks_like_id
    if policy == "always":
        _pull(engine, image)
    try:
        return action()
    except ImageNotFound:
        if policy != "missing" or looks_like_id(image):
            raise
    import sys

    from lamina.reference import Reference
    sys.stderr.write(f"Unable to find image '{Reference.parse(image).familiar()}' locally\n")
    _pull(engine, image)
    return action()


def _pull(engine: Engine, image: str) -> None:
    """A pull whose progress and result go to stderr, as ``docker run``'s does."""
    import sys

    from lamina.cli.progress import TransferProgress
    from lamina.reference import Reference
    ref = Reference.parse(image)
    sys.stderr.write(f"{ref.tag or 'latest'}: Pulling from {ref.remote_path.removeprefix('library/')}\n")
    with TransferProgress(quiet=not sys.stderr.isatty()) as progress:
        pulled = engine.distribution.pull(image, progress=progress)
    digests = [d.split("@")[1] for i in pulled for d in i.repo_digests if d.split("@")[0] == ref.repository]
    sys.stderr.write(f"Digest: {digests[0] if digests else ''}\nStatus: Downloaded newer image for "
                     f"{ref.familiar()}\n")


@contextlib.contextmanager
def _cidfile(path: str) -> Iterator[Callable[[str], None]]:
    """``--cidfile``: made empty and exclusively first (an existing one is an error, as in docker),
    removed again if the container could not be created."""
    from lamina._internal.fsops import write_all
    from lamina.errors import InvalidOption
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise InvalidOption(f"container ID file found, make sure the other container isn't running "
                            f"or delete {path}") from None
    except OSError as exc:
        raise InvalidOption(f"failed to create the container ID file {path}: {exc.strerror}") from None
    try:
        yield lambda cid: write_all(fd, memoryview(cid.encode()))
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)


def _echo(text: str) -> None:
    import sys
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
