"""RabbitMQ as a 3-node cluster of Debian's server on this machine, behind HAProxy.

    python -m alexandrite.ops.rabbitmq_cluster up|down|status
    alexandrite up --broker cluster          # the services then use CLUSTER_AMQP_URL

    node        AMQP   management  metrics  distribution   data and logs
    rabbit-c1   5681   15681       15701    25681          <state>/rabbitmq-cluster/rabbit-c1/
    rabbit-c2   5682   15682       15702    25682          …
    rabbit-c3   5683   15683       15703    25683          …
    HAProxy     5680 (deploy/haproxy/haproxy.cfg), to the nodes that answer AMQP

Every port differs from the single broker's (5672, 15672, 15692, 25672), which keeps running.
The nodes share the Erlang cookie of the rabbitmq user, find each other from a fixed list
(classic peer discovery, deploy/rabbitmq/cluster/rabbitmq.conf) and pause a minority on a
partition. Each node runs as its own process group with its own pid file, so one node can be
stopped gracefully or killed while the others serve (tests/cluster).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import signal
import subprocess
import sys
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from alexandrite.ops.apt import ensure_apt_packages
from alexandrite.ops.commands import run, tail, wait_until
from alexandrite.ops.paths import DEPLOY_DIR, Paths
from alexandrite.ops.rabbitmq_probes import amqp_answers, process_gone

__all__ = [
    "CLUSTER_AMQP_PORT",
    "CLUSTER_AMQP_URL",
    "NODES",
    "ClusterNode",
    "cluster_members",
    "cluster_problems",
    "delete_vhost",
    "ensure_rabbitmq_cluster_running",
    "ensure_vhost",
    "grow_quorum_queues",
    "management_get",
    "management_request",
    "node_pid",
    "queue_leader",
    "quorum_members",
    "start_node",
    "stop_node",
    "stop_rabbitmq_cluster",
]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
CLUSTER_AMQP_PORT = 5680
CLUSTER_AMQP_URL = f"amqp://guest:guest@{HOST}:{CLUSTER_AMQP_PORT}/"
_CONFIG_TEMPLATE = DEPLOY_DIR / "rabbitmq" / "cluster" / "rabbitmq.conf"
_HAPROXY_CONFIG = DEPLOY_DIR / "haproxy" / "haproxy.cfg"
_PLUGINS = "[rabbitmq_management,rabbitmq_prometheus].\n"


@dataclass(frozen=True)
class ClusterNode:
    """One node; everything about it follows from its index (1, 2, 3)."""

    index: int

    @property
    def name(self) -> str:
        return f"rabbit-c{self.index}@localhost"

    @property
    def short_name(self) -> str:
        return f"rabbit-c{self.index}"

    @property
    def amqp_port(self) -> int:
        return 5680 + self.index

    @property
    def management_port(self) -> int:
        return 15680 + self.index

    @property
    def prometheus_port(self) -> int:
        return 15700 + self.index

    @property
    def dist_port(self) -> int:
        return 25680 + self.index

    def directory(self, paths: Paths) -> Path:
        return paths.state / "rabbitmq-cluster" / self.short_name

    def pid_file(self, paths: Paths) -> Path:
        return self.directory(paths) / "pid"

    def log_file(self, paths: Paths) -> Path:
        return self.directory(paths) / "log" / f"{self.name}.log"


NODES = (ClusterNode(1), ClusterNode(2), ClusterNode(3))


def _render_config(node: ClusterNode) -> str:
    members = "\n".join(
        f"cluster_formation.classic_config.nodes.{other.index} = {other.name}" for other in NODES
    )
    return Template(_CONFIG_TEMPLATE.read_text()).substitute(
        amqp_port=node.amqp_port,
        management_port=node.management_port,
        prometheus_port=node.prometheus_port,
        cluster_nodes=members,
    )


def _prepare(node: ClusterNode, paths: Paths) -> dict[str, str]:
    """Write the node's files (owned by the rabbitmq user) and return its environment."""
    directory = node.directory(paths)
    for sub in ("mnesia", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    (directory / "rabbitmq.conf").write_text(_render_config(node))
    (directory / "enabled_plugins").write_text(_PLUGINS)
    # An empty env file replaces /etc/rabbitmq/rabbitmq-env.conf, which names the single node.
    (directory / "rabbitmq-env.conf").write_text("# everything is set in the environment\n")
    user = pwd.getpwnam("rabbitmq")
    for path in [directory, *directory.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    loopback = "-kernel inet_dist_use_interface {127,0,0,1}"
    return {
        "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": node.name,
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(node.amqp_port),
        "RABBITMQ_DIST_PORT": str(node.dist_port),
        "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_PID_FILE": str(node.pid_file(paths)),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": loopback,
        "RABBITMQ_CTL_ERL_ARGS": loopback,
        "ERL_EPMD_ADDRESS": HOST,
    }


def _is_beam(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return command.startswith("beam") and not process_gone(pid)


def node_pid(node: ClusterNode, paths: Paths) -> int | None:
    """The node's OS pid, from its pid file or else from the processes' environments.

    The fallback matters: a second launch of a running node fails (its name is taken) and
    removes the pid file on its way out, leaving the first one running without it.
    """
    try:
        pid = int(node.pid_file(paths).read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and _is_beam(pid):
        return pid
    wanted = f"RABBITMQ_NODENAME={node.name}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _is_beam(int(entry.name)):
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    return None


def start_node(node: ClusterNode, paths: Paths, *, wait: bool = True, timeout: float = 90) -> None:
    """Launch the node unless it runs; with `wait`, until it answers AMQP."""
    if node_pid(node, paths) is None and not amqp_answers(HOST, node.amqp_port):
        environment = {**os.environ, **_prepare(node, paths)}
        log.info("starting RabbitMQ node %s (AMQP %d)", node.name, node.amqp_port)
        with (node.directory(paths) / "console.log").open("ab") as console:
            subprocess.Popen(
                ["rabbitmq-server"],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd="/var/lib/rabbitmq",
                env=environment,
                start_new_session=True,
            )
    if wait:
        _wait_for_node(node, paths, timeout)


def _wait_for_node(node: ClusterNode, paths: Paths, timeout: float) -> None:
    wait_until(
        lambda: amqp_answers(HOST, node.amqp_port),
        what=f"RabbitMQ node {node.name}",
        timeout=timeout,
        explain=lambda: tail(str(node.log_file(paths)), 20),
    )


def stop_node(
    node: ClusterNode, paths: Paths, *, graceful: bool = True, timeout: float = 60
) -> None:
    """SIGTERM (a clean shutdown that hands leadership over) or SIGKILL (a crash)."""
    pid = node_pid(node, paths)
    if pid is None:
        return
    log.info("stopping RabbitMQ node %s (%s)", node.name, "SIGTERM" if graceful else "SIGKILL")
    os.kill(pid, signal.SIGTERM if graceful else signal.SIGKILL)
    wait_until(lambda: process_gone(pid), what=f"{node.name} to stop", timeout=timeout)


def management_request(
    method: str, path: str, body: Any = None, node: ClusterNode | None = None
) -> Any:
    """Call the management API of `node` (default: the first that answers); JSON or None."""
    candidates = [node] if node else list(NODES)
    last: Exception | None = None
    for candidate in candidates:
        request = urllib.request.Request(
            f"http://{HOST}:{candidate.management_port}/api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": "Basic " + b64encode(b"guest:guest").decode(),
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
                return json.loads(payload) if payload else None
        except OSError as exc:
            last = exc
    raise ConnectionError(f"no cluster node answers {method} /api/{path}: {last}")


def management_get(path: str, node: ClusterNode | None = None) -> Any:
    return management_request("GET", path, node=node)


def ensure_vhost(vhost: str) -> str:
    """Create `vhost` (guest may do everything there); return its AMQP URL through HAProxy."""
    name = quote(vhost, safe="")
    management_request("PUT", f"vhosts/{name}", {})
    management_request(
        "PUT", f"permissions/{name}/guest", {"configure": ".*", "write": ".*", "read": ".*"}
    )
    return f"{CLUSTER_AMQP_URL}{name}"


def delete_vhost(vhost: str) -> None:
    management_request("DELETE", f"vhosts/{quote(vhost, safe='')}")


def cluster_members(node: ClusterNode | None = None) -> set[str]:
    """The names of the nodes that are running and clustered, as the cluster sees them."""
    try:
        return {n["name"] for n in management_get("nodes", node) if n.get("running")}
    except (ConnectionError, ValueError):
        return set()


def cluster_problems() -> list[str]:
    """What keeps the cluster from being whole, as each node sees it; empty when healthy.

    Every node is asked (not just the first that answers): a node that booted can be running in
    one node's view and not yet in another's, and a node that pause_minority paused keeps its
    Erlang node (the others may list it) while its AMQP listener is closed.
    """
    names = {node.name for node in NODES}
    problems = []
    for node in NODES:
        if not amqp_answers(HOST, node.amqp_port):
            problems.append(f"{node.name}: AMQP does not answer")
            continue
        try:
            seen = management_get("nodes", node)
        except (ConnectionError, ValueError) as exc:
            problems.append(f"{node.name}: management API does not answer ({exc})")
            continue
        running = {n["name"] for n in seen if n.get("running")}
        if running != names:
            problems.append(f"{node.name} sees running only {sorted(running)}")
        partitions = {n["name"]: n["partitions"] for n in seen if n.get("partitions")}
        if partitions:
            problems.append(f"{node.name} reports partitions {partitions}")
    return problems


def quorum_members(queue: str, vhost: str = "/") -> dict[str, str]:
    """Each member node of a quorum queue and its Raft state (leader, follower, …).

    Asked with ``rabbitmq-queues quorum_status`` of a live member rather than the management
    API, whose view of the leader lagged a kill by more than a minute under load (tests/cluster).
    Empty when no node answers for the queue.
    """
    for asked in NODES:
        if not amqp_answers(HOST, asked.amqp_port):
            continue
        result = run(
            [
                "rabbitmq-queues",
                "-q",
                "-n",
                asked.name,
                "quorum_status",
                queue,
                "--vhost",
                vhost,
                "--formatter",
                "json",
            ],
            check=False,
            timeout=60,
        )
        if result.returncode != 0 or "[" not in result.stdout:
            continue
        members = json.loads(result.stdout[result.stdout.index("[") :])
        return {str(m["Node Name"]): str(m.get("Raft State")) for m in members}
    return {}


def queue_leader(queue: str, vhost: str = "/") -> ClusterNode | None:
    """The node holding a quorum queue's Raft leader now, as a live member reports it."""
    leaders = [name for name, state in quorum_members(queue, vhost).items() if state == "leader"]
    return next((node for node in NODES if [node.name] == leaders), None)


def grow_quorum_queues(node: ClusterNode) -> None:
    """Give every quorum queue a member on ``node`` again.

    A quorum queue declared while a node was away (a consumer's retry or dead-letter queue, a
    new virtual host) has its members on the others only, and RabbitMQ 3.10 does not add the
    node when it returns: such a queue then loses its majority with the next node lost, and
    every publish routed to it is nacked. Run after a node (re)joins; a no-op for queues that
    already have a member there.
    """
    for asked in NODES:
        if asked is node or not amqp_answers(HOST, asked.amqp_port):
            continue
        result = run(
            ["rabbitmq-queues", "-q", "-n", asked.name, "grow", node.name, "all"],
            check=False,
            timeout=120,
        )
        if result.returncode == 0:
            return
        log.warning(
            "growing quorum queues onto %s through %s failed: %s",
            node.name,
            asked.name,
            result.stderr.strip()[-500:],
        )


def _haproxy_pid_file(paths: Paths) -> Path:
    return paths.run / "haproxy-rabbitmq.pid"


def _haproxy_pid(paths: Paths) -> int | None:
    try:
        pid = int(_haproxy_pid_file(paths).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return None if process_gone(pid) else pid


def _ensure_haproxy(paths: Paths) -> None:
    if _haproxy_pid(paths) is not None:
        return
    run(["haproxy", "-c", "-q", "-f", str(_HAPROXY_CONFIG)])
    run(["haproxy", "-D", "-f", str(_HAPROXY_CONFIG), "-p", str(_haproxy_pid_file(paths))])
    wait_until(lambda: amqp_answers(HOST, CLUSTER_AMQP_PORT), what="HAProxy on 5680", timeout=30)


def ensure_rabbitmq_cluster_running(paths: Paths | None = None, timeout: float = 180) -> str:
    """Install HAProxy, start the three nodes and HAProxy; return the AMQP URL."""
    paths = (paths or Paths.from_env()).ensure()
    ensure_apt_packages(["haproxy"])
    run(["epmd", "-address", HOST, "-daemon"])
    fresh = not any(any((node.directory(paths) / "mnesia").glob("*")) for node in NODES)
    if fresh:
        # A first boot: one node forms the cluster, the others then find it and join.
        start_node(NODES[0], paths, timeout=timeout)
        for node in NODES[1:]:
            start_node(node, paths, wait=False)
    else:
        # A restart: every node waits for its peers, so all must boot together.
        for node in NODES:
            start_node(node, paths, wait=False)
    for node in NODES:
        _wait_for_node(node, paths, timeout)
    names = {node.name for node in NODES}
    wait_until(
        lambda: not cluster_problems(),
        what="the 3-node cluster, as each node sees it",
        timeout=timeout,
        interval=0.5,
        explain=lambda: "; ".join(cluster_problems()),
    )
    if not fresh:
        # Queues declared while a node was down have no member on it yet.
        for node in NODES:
            grow_quorum_queues(node)
    _ensure_haproxy(paths)
    log.info("RabbitMQ cluster of %s behind HAProxy on %d", ", ".join(names), CLUSTER_AMQP_PORT)
    return CLUSTER_AMQP_URL


def stop_rabbitmq_cluster(paths: Paths | None = None) -> None:
    paths = paths or Paths.from_env()
    pid = _haproxy_pid(paths)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: process_gone(pid), what="HAProxy to stop", timeout=15)
    for node in NODES:
        stop_node(node, paths)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    action = argv[0] if argv else "status"
    if action == "up":
        print(ensure_rabbitmq_cluster_running())
    elif action == "down":
        stop_rabbitmq_cluster()
    elif action == "status":
        members = cluster_members()
        for node in NODES:
            print(f"{node.name}: {'running' if node.name in members else 'stopped'}")
        return 0 if len(members) == len(NODES) else 3
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
