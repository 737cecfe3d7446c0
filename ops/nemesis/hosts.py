"""The test hosts: one network namespace per `rill serve` process and one for the clients, joined
by veth pairs to a bridge in the root namespace, each node's data directory on a small tmpfs of
its own (so a full disk can be made without touching the machine's).

Everything made here is named after this process's PID (namespaces `rn<pid>-<i>`, bridge
`rnb<pid>`), removed by `teardown()`, and a later run removes what a run that died left behind.
"""
import os
import re
import signal
import subprocess
import time

SUBNET_BASE = "10.231"


def sh(*args, check=True, ns=None, capture=False):
    cmd = list(args)
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout if capture else r.returncode


def remove_stale():
    """Namespaces, bridges and mounts of runs whose process is gone."""
    out = sh("ip", "netns", "list", capture=True)
    for line in out.splitlines():
        m = re.match(r"rn(\d+)-(\w+)", line.split()[0]) if line.strip() else None
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            sh("ip", "netns", "del", m.group(0), check=False)
    links = sh("ip", "-o", "link", "show", "type", "bridge", capture=True)
    for m in re.finditer(r"^\d+: (rnb(\d+))[:@]", links, re.M):
        if not os.path.exists(f"/proc/{m.group(2)}"):
            sh("ip", "link", "del", m.group(1), check=False)


class Node:
    def __init__(self, hosts, i):
        self.i = i
        self.ns = f"{hosts.prefix}-{i}"
        self.ip = f"{hosts.subnet}.{i}"
        self.dir = os.path.join(hosts.run_dir, f"node-{i}")
        self.data = os.path.join(self.dir, "data")
        self.proc = None
        self.paused = False
        self.starts = 0

    @property
    def kafka(self):
        return f"{self.ip}:9092"

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Hosts:
    """Namespaces, links, disks and node processes of one run."""

    def __init__(self, run_dir, rill, nodes=3, disk_mib=256, planted_bug=None):
        self.run_dir = os.path.abspath(run_dir)
        self.rill = os.path.abspath(rill)
        self.pid = os.getpid()
        self.prefix = f"rn{self.pid}"
        self.bridge = f"rnb{self.pid}"
        self.subnet = f"{SUBNET_BASE}.{self.pid % 200 + 20}"
        self.disk_mib = disk_mib
        self.planted_bug = planted_bug
        self.nodes = [Node(self, i) for i in range(1, nodes + 1)]
        self.client_ns = f"{self.prefix}-c"
        self.client_ip = f"{self.subnet}.100"
        self.made = False

    # -- topology -------------------------------------------------------------------------------

    def setup(self):
        remove_stale()
        self.made = True
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "link", "set", self.bridge, "up")
        hosts = list(zip([n.ns for n in self.nodes] + [self.client_ns], [n.ip for n in self.nodes] + [self.client_ip],
                         self.veths()))
        for ns, ip, veth in hosts:
            sh("ip", "netns", "add", ns)
            # The runner's previous run used the same names: its pair may still be going away.
            sh("ip", "link", "del", veth, check=False)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", veth, "master", self.bridge)
            sh("ip", "link", "set", veth, "up")
            sh("ip", "addr", "add", f"{ip}/24", "dev", "eth0", ns=ns)
            sh("ip", "link", "set", "eth0", "up", ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        for n in self.nodes:
            # One input chain per node for partitions (a packet is dropped where it arrives);
            # flushed to heal.
            sh("nft", "add", "table", "inet", "nemesis", ns=n.ns)
            sh("nft", "add", "chain", "inet", "nemesis", "input",
               "{ type filter hook input priority 0; }", ns=n.ns)
            os.makedirs(n.data, exist_ok=True)
            sh("mount", "-t", "tmpfs", "-o", f"size={self.disk_mib}m", "tmpfs", n.data)

    def teardown(self):
        for n in self.nodes:
            if n.running():
                if n.paused:
                    os.kill(n.proc.pid, signal.SIGCONT)
                n.proc.kill()
                n.proc.wait()
        if not self.made:
            return
        for n in self.nodes:
            sh("umount", "-l", n.data, check=False)
        # The root ends of the veth pairs first: deleting a namespace destroys its pair only
        # asynchronously, and the next run of this runner uses the same names ("File exists").
        for veth in self.veths():
            sh("ip", "link", "del", veth, check=False)
        for ns in [n.ns for n in self.nodes] + [self.client_ns]:
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(sh("ip", "link", "show", v, check=False) == 0 for v in self.veths()):
            time.sleep(0.1)
        self.made = False

    def veths(self):
        """The root-namespace ends of the nodes' and the clients' veth pairs."""
        return [f"rnv{self.pid}-{n.i}" for n in self.nodes] + [f"rnv{self.pid}-c"]

    # -- configuration --------------------------------------------------------------------------

    def write_configs(self):
        """Certificates from `rill dev --init-only` (its CA and node certificates; peers check a
        certificate's node id, not its address), node.toml written here for the namespaces."""
        certs = os.path.join(self.run_dir, "certs")
        subprocess.run([self.rill, "dev", "--init-only", "--nodes", str(len(self.nodes)), "--dir", certs,
                        "--kafka-port", "29092"], check=True, stdout=subprocess.DEVNULL)
        peers = "\n".join(f'{n.i} = "{n.ip}:9192"' for n in self.nodes)
        for n in self.nodes:
            src = os.path.join(certs, f"node-{n.i}")
            toml = f"""# Written by ops/nemesis/hosts.py
node_id = {n.i}
cluster = "nemesis"
data_dir = "data"

[listeners]
kafka = "{n.ip}:9092"
peer = "{n.ip}:9192"
metrics = "{n.ip}:9292"

[tls]
ca = "{os.path.join(certs, 'ca.pem')}"
cert = "{os.path.join(src, 'node.pem')}"
key = "{os.path.join(src, 'node.key')}"

[kafka]
auto_create_topics = false
group_initial_rebalance_delay_ms = 500

[storage]
min_free_bytes = 16777216
warn_free_bytes = 33554432
reserve_bytes = 4194304

[log]
file = "../node-{n.i}.log"
max_bytes = 67108864
files = 3

[peers]
{peers}
"""
            if self.planted_bug:
                toml += f'\n[testing]\nplanted_bug = "{self.planted_bug}"\n'
            with open(os.path.join(n.dir, "node.toml"), "w") as f:
                f.write(toml)

    # -- processes ------------------------------------------------------------------------------

    def start(self, n):
        assert not n.running()
        err = open(os.path.join(self.run_dir, f"node-{n.i}.stderr"), "a")
        # `ip netns exec` execs rill in place, so the PID is the node's own.
        n.proc = subprocess.Popen(["ip", "netns", "exec", n.ns, self.rill, "serve", "--config",
                                   os.path.join(n.dir, "node.toml")],
                                  stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        n.paused = False
        n.starts += 1

    def kill(self, n, sig=signal.SIGKILL, wait=30.0):
        """Signal the node and wait for it to exit; returns how long it took, or None if it did not
        (a SIGTERM the node did not honour: then it is killed)."""
        if not n.running():
            return 0.0
        if n.paused:
            os.kill(n.proc.pid, signal.SIGCONT)
            n.paused = False
        t = time.monotonic()
        os.kill(n.proc.pid, sig)
        try:
            n.proc.wait(timeout=wait)
            return time.monotonic() - t
        except subprocess.TimeoutExpired:
            n.proc.kill()
            n.proc.wait()
            return None

    def pause(self, n):
        if n.running() and not n.paused:
            os.kill(n.proc.pid, signal.SIGSTOP)
            n.paused = True

    def resume(self, n):
        if n.running() and n.paused:
            os.kill(n.proc.pid, signal.SIGCONT)
            n.paused = False

    def in_client_ns(self, argv, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.client_ns] + argv, **kw)

    # -- network --------------------------------------------------------------------------------

    def drop(self, frm, to):
        """Packets from node `frm` never reach node `to` (dropped as `to` receives them)."""
        sh("nft", "add", "rule", "inet", "nemesis", "input", "ip", "saddr", frm.ip, "drop", ns=to.ns)

    def heal_network(self):
        for n in self.nodes:
            sh("nft", "flush", "chain", "inet", "nemesis", "input", ns=n.ns)
            sh("tc", "qdisc", "del", "dev", "eth0", "root", ns=n.ns, check=False)

    def slow_lossy(self, n, rate_mbit, loss_pct):
        """A slow, lossy link: egress shaped by a token bucket (tc tbf: what does not fit waits up
        to 300 ms, then is dropped) and `loss_pct` % of arriving packets dropped at random
        (nftables numgen). tc netem would also add fixed delay and jitter, but this kernel kind
        has no sch_netem (and no modules to load), while tbf and nftables are built in."""
        sh("tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", f"{rate_mbit}mbit",
           "burst", "32kbit", "latency", "300ms", ns=n.ns)
        if loss_pct:
            sh("nft", "add", "rule", "inet", "nemesis", "input", "numgen", "random", "mod", "100", "<",
               str(loss_pct), "drop", ns=n.ns)

    # -- disk -----------------------------------------------------------------------------------

    def ballast(self, n):
        return os.path.join(n.data, "nemesis-ballast")

    def fill_disk(self, n, leave_bytes):
        """Take all but `leave_bytes` of the node's data disk; returns the bytes taken."""
        fd = os.open(self.ballast(n), os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            # fallocate is all or nothing: when the node's own writes take space meanwhile it
            # fails and takes none, so try again for what is free then.
            for _ in range(5):
                st = os.statvfs(n.data)
                size = os.fstat(fd).st_size + max(0, st.f_bavail * st.f_frsize - leave_bytes)
                try:
                    os.posix_fallocate(fd, 0, size)
                    break
                except OSError:
                    continue
        finally:
            os.close(fd)
        return os.path.getsize(self.ballast(n))

    def free_disk(self, n):
        try:
            os.unlink(self.ballast(n))
        except FileNotFoundError:
            pass

    def closed_segments(self, n):
        """Every segment but the last of each log directory (the last is the active one)."""
        out = []
        for root, dirs, files in os.walk(n.data):
            dirs.sort()
            segs = sorted(f for f in files if f.endswith(".log") and f[:-4].isdigit())
            out += [os.path.join(root, f) for f in segs[:-1]]
        return sorted(out)
