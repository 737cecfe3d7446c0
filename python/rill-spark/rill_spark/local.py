"""A Rill cluster on this machine for tests, the course notebooks and benchmarks.

`LocalCluster(nodes=1 or 3)` writes a `rill dev --init-only` directory in a fresh temporary
directory, on free loopback ports, starts one `rill serve` process per node itself (so a test can
kill -9 one node by its pid and start it again), waits until the controller has a leader and every
node is registered, and stops exactly the processes it started.

    with LocalCluster(nodes=3) as cluster:
        cluster.bootstrap          # "127.0.0.1:P,127.0.0.1:P+1,127.0.0.1:P+2"
        cluster.kill(2)            # SIGKILL node 2
        cluster.start_node(2)      # and back

The `rill` binary is taken from $RILL, else `rill` on PATH, else `.build/release/rill` of the
repository this file lives in.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def rill_binary():
    """The `rill` executable: $RILL, `rill` on PATH, or the repository's release build."""
    env = os.environ.get("RILL")
    if env:
        return env
    found = shutil.which("rill")
    if found:
        return found
    for parent in Path(__file__).resolve().parents:
        candidate = parent / ".build" / "release" / "rill"
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError("no rill binary: set $RILL, put rill on PATH, or run "
                            "`swift build -c release --product rill` in the repository")


def _port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_base_port(nodes):
    """A Kafka base port P such that P..P+n-1, their peer ports (+100) and status ports (+200) are
    all free now."""
    for _ in range(200):
        # Below Linux's ephemeral range (32768-60999 by default), where the nodes' own outgoing
        # connections could take one of these ports between this check and the bind.
        low, high = 20000, 32000
        try:
            low_eph = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
            high = min(high, low_eph - 300)
        except (OSError, ValueError, IndexError):
            pass
        base = random.randint(low, high)
        if all(_port_free(base + d + k) for d in (0, 100, 200) for k in range(nodes)):
            return base
    raise RuntimeError("no free loopback ports found")


class LocalCluster:
    def __init__(self, nodes=1, rill=None, directory=None, start_timeout=30.0, kafka_settings=None):
        if nodes not in (1, 3, 5):
            raise ValueError("a Rill cluster has 1, 3 or 5 nodes")
        self.nodes = nodes
        self.rill = rill or rill_binary()
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="rill-course-"))
        self.base = free_base_port(nodes)
        self.start_timeout = start_timeout
        self.procs = {}   # node id -> Popen of the `rill serve` we started
        # Extra [kafka] settings of node.toml (docs/operations.md), e.g. {"retention_check_ms": 1000}.
        self.kafka_settings = dict(kafka_settings or {})

    # -- addresses
    @property
    def bootstrap(self):
        return ",".join(f"127.0.0.1:{self.base + i}" for i in range(self.nodes))

    def kafka_address(self, node):
        return f"127.0.0.1:{self.base + node - 1}"

    def status_address(self, node):
        return f"127.0.0.1:{self.base + 200 + node - 1}"

    # -- life cycle
    def start(self):
        subprocess.run([self.rill, "dev", "--init-only", "--nodes", str(self.nodes), "--dir", str(self.dir),
                        "--kafka-port", str(self.base)], check=True, stdout=subprocess.DEVNULL, timeout=60)
        if self.kafka_settings:
            extra = "".join(f"{k} = {v}\n" for k, v in sorted(self.kafka_settings.items()))
            for n in range(1, self.nodes + 1):
                path = self.dir / f"node-{n}" / "node.toml"
                text = path.read_text()
                if "[kafka]\n" not in text:
                    raise RuntimeError(f"{path} has no [kafka] section")
                path.write_text(text.replace("[kafka]\n", "[kafka]\n" + extra, 1))
        try:
            for n in range(1, self.nodes + 1):
                self.start_node(n, wait=False)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, node, wait=True):
        if node in self.procs and self.procs[node].poll() is None:
            raise RuntimeError(f"node {node} is running already")
        err = open(self.dir / f"node-{node}.stderr", "ab")
        self.procs[node] = subprocess.Popen([self.rill, "serve", "--config", str(self.dir / f"node-{node}" / "node.toml")],
                                            stdout=err, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        err.close()
        if wait:
            self.wait_ready()

    def kill(self, node, sig=signal.SIGKILL):
        """Send `sig` (SIGKILL by default) to one node we started and reap it."""
        proc = self.procs[node]
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop(self):
        """Stop every node we started (SIGTERM, then SIGKILL after 10 s) and remove the directory."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.time() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- state
    def node_status(self, node, timeout=2.0):
        """The node's /status JSON, or None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{self.status_address(node)}/status", timeout=timeout) as r:
                return json.load(r)
        except (OSError, ValueError):
            return None

    def running_nodes(self):
        return [n for n, p in self.procs.items() if p.poll() is None]

    def wait_ready(self, timeout=None):
        """Until every running node answers, knows a controller leader and sees every node registered
        (and, with several nodes, has a link to each running peer)."""
        deadline = time.time() + (timeout or self.start_timeout)
        running = self.running_nodes()
        last = None
        while time.time() < deadline:
            statuses = [self.node_status(n) for n in running]
            last = statuses
            if all(s is not None and s.get("controllerLeader", 0) > 0 and len(s.get("brokers", [])) == self.nodes
                   and sum(1 for p in s.get("peers", []) if p.get("connected")) >= len(running) - 1
                   for s in statuses):
                return
            dead = [n for n in running if self.procs[n].poll() is not None]
            if dead:
                raise RuntimeError(f"node(s) {dead} exited; see {self.dir}/node-*.stderr and node-*.log")
            time.sleep(0.2)
        raise TimeoutError(f"cluster not ready within {timeout or self.start_timeout} s: {last}")

    def leader_of(self, topic, partition=0):
        """The node leading `topic`/`partition`, from the nodes' status pages (0 if none known)."""
        for n in self.running_nodes():
            s = self.node_status(n)
            for p in (s or {}).get("partitions", []):
                if p.get("topic") == topic and p.get("partition") == partition and p.get("leader", 0) > 0:
                    return p["leader"]
        return 0

    def cluster_status(self):
        """What `rill cluster status` prints for this cluster."""
        return subprocess.run([self.rill, "cluster", "status", "--dir", str(self.dir)], capture_output=True,
                              text=True, timeout=30).stdout

    def create_topic(self, name, partitions=1, replication_factor=None):
        """`rill topic create` (through the controller)."""
        cmd = [self.rill, "topic", "create", name, "--partitions", str(partitions), "--dir", str(self.dir)]
        if replication_factor:
            cmd += ["--replication-factor", str(replication_factor)]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
