"""Hosts for tests as Linux network namespaces: each has its own loopback and one address on a
private switch (a bridge inside a namespace of its own, so the machine's own network never sees
this traffic). A host is cut by taking its switch port down. Needs root (`ip netns`).

    with Network("tier") as network:
        gw = network.add_host("gw1")
        process = network.popen(gw, ["otelcol", ...], log)
        network.cut(gw); network.restore(gw)
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

# 10.231.0.0/16 is used only inside these namespaces: nothing outside routes to it.
_SUBNET = "10.231"


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str
    # The bridge's end of this host's cable, inside the switch namespace.
    switch_port: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Network:
    """A switch and the hosts plugged into it; everything is deleted when the block ends."""

    def __init__(self, name: str) -> None:
        # Names are per process: two test runs never share namespaces or interface names.
        self.tag = f"{name[:4]}{os.getpid() % 100000}"
        self.switch = f"alx-{self.tag}-sw"
        self.subnet = f"{_SUBNET}.{os.getpid() % 250}"
        self.hosts: list[Host] = []
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Network:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "set", "lo", "up")
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 1
        namespace = f"alx-{self.tag}-{name}"
        # Interface names are at most 15 characters and, while in the root namespace, unique.
        inside, port = f"h{self.tag}{index}"[:15], f"s{self.tag}{index}"[:15]
        _ip("netns", "add", namespace)
        self.hosts.append(Host(namespace, f"{self.subnet}.{10 + index}", port))
        _ip("link", "add", inside, "type", "veth", "peer", "name", port)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", port, "netns", self.switch)
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        _ip("-n", namespace, "addr", "add", f"{self.subnet}.{10 + index}/24", "dev", inside)
        _ip("-n", namespace, "link", "set", inside, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        return self.hosts[-1]

    def popen(
        self, host: Host, command: list[str], log: Path, environment: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `command` inside the host; it is stopped when the network is torn down."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            process = subprocess.Popen(
                ["ip", "netns", "exec", host.namespace, *command],
                env={**os.environ, **(environment or {})},
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._processes.append(process)
        return process

    def get(self, host: Host, url: str) -> str:
        """GET `url` from inside the host (its loopback is its own); '' when nothing answers."""
        result = subprocess.run(
            ["ip", "netns", "exec", host.namespace, "curl", "-sf", "--max-time", "3", url],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return result.stdout if result.returncode == 0 else ""

    def cut(self, host: Host) -> None:
        """Unplug the host: packets to and from it are dropped, connections hang."""
        _ip("-n", self.switch, "link", "set", host.switch_port, "down")

    def restore(self, host: Host) -> None:
        _ip("-n", self.switch, "link", "set", host.switch_port, "up")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for namespace in [host.namespace for host in self.hosts] + [self.switch]:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
