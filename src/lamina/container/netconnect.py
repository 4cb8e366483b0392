"""``network connect``/``disconnect``: more user networks for a bridge container, beside the one it was
created on, as more interfaces (``eth1``, ``eth2`` …) in its network namespace.

The networks a container is connected to are in its record (``options["connected"]``: name, aliases,
interface), so every start plugs them in after the first network (``plug_all``) and every stop
unplugs them before it (``unplug_all``); connecting or disconnecting a running container also does it
at once. The attachments of the running container are in its state (``extra["networks"]``, by
network name). Must not make or remove network namespaces: ``ContainerManager.connect`` does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from lamina._internal.fsops import atomic_write
from lamina._internal.records import replace
from lamina.errors import Conflict, InvalidOption, LaminaError, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lamina.container.manager import ContainerManager
    from lamina.container.model import Container, ContainerState
    from lamina.network.bridge import Attachment
    from lamina.network.networks import Network


def connect_network(manager: ContainerManager, name_or_id: str, network: str, *,
                    aliases: Sequence[str] = ()) -> Container:
    """docker network connect: in the record, and plugged in now when the container runs."""
    container, _ = manager.get(name_or_id)
    opts = container.options
    if opts.get("network") != "bridge" or (opts.get("join") or {}).get("network"):
        raise InvalidOption(f"container {container.name} cannot be connected to network {network}: "
                            "only a container on a bridge network can be (not host, none or container:)")
    net = manager.networks.find(network)
    if net.name in names(container):
        raise Conflict(f"endpoint with name {container.name} already exists in network {net.name}")
    with manager.store.lock(container.id):
        container = manager.store.load(container.id)
        entries = list(container.options.get("connected") or ())
        entry = {"name": net.name, "aliases": list(aliases), "ifname": _free_ifname(entries)}
        container = _save(manager, container, [*entries, entry])
    if manager.store.state(container.id).running:
        try:
            _plug(manager, container, net, entry)
        except BaseException:
            with manager.store.lock(container.id):
                _save(manager, manager.store.load(container.id), entries)
            raise
    return container


def disconnect_network(manager: ContainerManager, name_or_id: str, network: str) -> Container:
    """docker network disconnect of a network ``connect`` added (the first one stays)."""
    container, _ = manager.get(name_or_id)
    net_name = manager.networks.find(network).name
    entries = list(container.options.get("connected") or ())
    if net_name not in [e["name"] for e in entries]:
        if net_name in names(container):
            raise InvalidOption(f"container {container.name} was created on network {net_name}: lamina cannot "
                                "take a container off its first network")
        raise NotFound(f"container {container.name} is not connected to network {net_name}")
    state = manager.store.state(container.id)
    attached = (state.extra.get("networks") or {}).get(net_name)
    if attached:
        _unplug(manager, container.id, _attachment(attached), manager.netns_path(container.id))
        manager.update_state(container.id, networks=_without(state, net_name))
    with manager.store.lock(container.id):
        return _save(manager, manager.store.load(container.id), [e for e in entries if e["name"] != net_name])


def names(container: Container) -> list[str]:
    """The networks of a bridge container: the first, then the connected ones."""
    first = container.options.get("network_name") or "bridge"
    return [first, *(e["name"] for e in container.options.get("connected") or ())]


def plug_all(manager: ContainerManager, container: Container) -> None:
    """At start, after the first network: every connected one (all undone if one fails)."""
    plugged: list[Attachment] = []
    manager.update_state(container.id, networks={})   # nothing left from a start that failed
    try:
        for entry in container.options.get("connected") or ():
            plugged.append(_plug(manager, container, manager.networks.find(entry["name"]), entry))
    except BaseException:
        for attachment in plugged:
            _unplug(manager, container.id, attachment, manager.netns_path(container.id))
        raise


def unplug_all(manager: ContainerManager, container_id: str, state: ContainerState) -> None:
    """At stop, before the first network goes: CNI DEL of every connected one, also of one whose ADD a
    crash kept out of the state (the record names it; DEL of what was never added does nothing)."""
    recorded = dict(state.extra.get("networks") or {})
    with contextlib.suppress(LaminaError):
        container = manager.store.load(container_id)
        for entry in container.options.get("connected") or ():
            if entry["name"] not in recorded:
                with contextlib.suppress(LaminaError):
                    _unplug(manager, container_id, _unrecorded(manager, container, entry),
                            manager.netns_path(container_id))
    for data in recorded.values():
        with contextlib.suppress(LaminaError):
            _unplug(manager, container_id, _attachment(data), manager.netns_path(container_id))


def attachments(state: ContainerState) -> list[Attachment]:
    """The connected networks' attachments of a running container."""
    return [_attachment(d) for d in (state.extra.get("networks") or {}).values()] if state.running else []


# ---------------------------------------------------------------- helpers
def _plug(manager: ContainerManager, container: Container, net: Network, entry: dict[str, Any]) -> Attachment:
    attachment = manager.network.add_interface(container.id, manager.netns_path(container.id), net,
                                               ifname=str(entry["ifname"]), name=container.name,
                                               aliases=entry.get("aliases") or ())
    try:
        state = manager.store.state(container.id)
        networks = {**(state.extra.get("networks") or {}), net.name: attachment.to_json()}
        manager.update_state(container.id, networks=networks)
        hosts = manager.store.bundle(container.id) / "etc" / "hosts"
        atomic_write(hosts, hosts.read_bytes() + f"{attachment.address}\t{container.hostname}\n".encode(),
                     durable=False)
    except BaseException:
        _unplug(manager, container.id, attachment, manager.netns_path(container.id))
        raise
    return attachment


def _unplug(manager: ContainerManager, container_id: str, attachment: Attachment, netns: Any) -> None:
    manager.network.remove_interface(container_id, netns, attachment)


def _attachment(data: dict[str, Any]) -> Attachment:
    from lamina.network.bridge import Attachment
    return Attachment.from_json(data)


def _unrecorded(manager: ContainerManager, container: Container, entry: dict[str, Any]) -> Attachment:
    """An attachment without a CNI result, for the DEL of an interface whose ADD was not recorded."""
    from lamina.network.bridge import Attachment
    return Attachment({}, (), manager.networks.find(entry["name"]), container.name, entry.get("aliases") or (),
                      str(entry["ifname"]))


def _without(state: ContainerState, name: str) -> dict[str, Any]:
    return {k: v for k, v in (state.extra.get("networks") or {}).items() if k != name}


def _free_ifname(entries: Sequence[dict[str, Any]]) -> str:
    taken = {"eth0", *(str(e.get("ifname")) for e in entries)}
    return next(f"eth{n}" for n in range(1, len(entries) + 2) if f"eth{n}" not in taken)


def _save(manager: ContainerManager, container: Container, entries: list[dict[str, Any]]) -> Container:
    updated = replace(container, options={**container.options, "connected": entries})
    manager.store.save(updated)
    return updated
