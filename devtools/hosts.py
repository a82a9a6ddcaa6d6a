"""Several hosts on one machine, for the multi-host test: each host is a network namespace with a
Docker engine of its own (own data root, exec root and socket: devtools.services.docker_engine), joined by
veth links to a bridge in one more namespace, the LAN. This machine reaches the LAN through a link
of its own (like an operator's laptop), so the test calls the head's Airflow UI at its address.

    10.231.0.1   this machine (link salary-op)
    10.231.0.10  head host      netns salary-head       link salary-v0 on the LAN's bridge
    10.231.0.11  worker host 1  netns salary-worker-1   link salary-v1
    ...

No namespace has a route beyond the LAN. Every namespace, link and engine made is recorded in
``.local/hosts/made.json`` before it is made; ``teardown()`` removes all of it (containers with
their engines), also what an interrupted run left, and ``leftovers()`` says what remains.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.services.docker_engine import CACHE, Engine

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".local" / "hosts"
MADE = OUT / "made.json"
PREFIX = "salary-"
LAN = f"{PREFIX}lan"
BRIDGE = "lan0"
SUBNET = "10.231.0"
OPERATOR_LINK = f"{PREFIX}op"
OPERATOR_ADDRESS = f"{SUBNET}.1"


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc


def _record(kind: str, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    made = json.loads(MADE.read_text()) if MADE.exists() else {}
    made.setdefault(kind, [])
    if name not in made[kind]:
        made[kind].append(name)
    MADE.write_text(json.dumps(made, indent=2))


def namespaces() -> list[str]:
    out = ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@dataclass
class Host:
    """A simulated machine: its namespace, address, engine and its own folder of deployment files."""

    name: str
    index: int
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = Engine(CACHE / "hosts" / self.name, Path(f"/tmp/{PREFIX}h-{self.name}"), netns=self.netns)

    @property
    def netns(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def address(self) -> str:
        return f"{SUBNET}.{10 + self.index}"

    @property
    def link(self) -> str:
        """The host's link as seen on the LAN's bridge (set down: the host is cut off)."""
        return f"{PREFIX}v{self.index}"

    @property
    def dir(self) -> Path:
        """What was copied to this host: compose files, docker/hadoop/, .env, tls/."""
        return OUT / self.name

    def docker(self, *args: str, check: bool = True, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": self.engine.host}
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
        if check and proc.returncode != 0:
            raise AssertionError(f"[{self.name}] docker {' '.join(args)[:200]} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return proc


def lan_up() -> None:
    """The LAN namespace with its bridge, and this machine's link into it."""
    if LAN not in namespaces():
        _record("netns", LAN)
        ip("netns", "add", LAN)
        ip("link", "add", BRIDGE, "type", "bridge", netns=LAN)
        ip("link", "set", BRIDGE, "up", netns=LAN)
        ip("link", "set", "lo", "up", netns=LAN)
    if ip("link", "show", OPERATOR_LINK, check=False).returncode != 0:
        _record("link", OPERATOR_LINK)
        ip("link", "add", OPERATOR_LINK, "type", "veth", "peer", "name", "op-lan")
        ip("link", "set", "op-lan", "netns", LAN)
        ip("link", "set", "op-lan", "master", BRIDGE, netns=LAN)
        ip("link", "set", "op-lan", "up", netns=LAN)
        ip("addr", "add", f"{OPERATOR_ADDRESS}/24", "dev", OPERATOR_LINK)
        ip("link", "set", OPERATOR_LINK, "up")


def host_up(host: Host) -> Host:
    """The host's namespace, its link to the LAN (address SUBNET.10+index) and its engine, running."""
    lan_up()
    if host.netns not in namespaces():
        _record("netns", host.netns)
        ip("netns", "add", host.netns)
        ip("link", "set", "lo", "up", netns=host.netns)
        ip("link", "add", "eth0", "type", "veth", "peer", "name", host.link, netns=host.netns)
        ip("link", "set", host.link, "netns", LAN, netns=host.netns)
        ip("link", "set", host.link, "master", BRIDGE, netns=LAN)
        ip("link", "set", host.link, "up", netns=LAN)
        ip("addr", "add", f"{host.address}/24", "dev", "eth0", netns=host.netns)
        ip("link", "set", "eth0", "up", netns=host.netns)
    _record("engine", str(host.engine.root))
    host.engine.start()
    clean(host.engine)  # a new machine: what an interrupted run left in the cached data root goes
    return host


def firewall(host: Host, role: str, head: Host) -> None:
    """scripts/host_firewall.sh on the host, as docs/multi-host.md says: only the engines' ports
    open to the LAN on its link (the copy in the host's folder, run in its namespace)."""
    script = host.dir / "scripts" / "host_firewall.sh"
    proc = subprocess.run(["ip", "netns", "exec", host.netns, "bash", str(script), role, "eth0", f"{SUBNET}.0/24",
                           head.address], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} on {host.name}: {proc.stderr.strip()}")


def refused(host: Host) -> int:
    """Connection attempts from the LAN the host's firewall refused (its chain's "refused" rule)."""
    out = subprocess.run(["ip", "netns", "exec", host.netns, "iptables", "-w", "-L", "SALARY-IN", "-v", "-n", "-x"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    (line,) = [line for line in out.splitlines() if "/* refused */" in line]
    return int(line.split()[0])


def cut(host: Host) -> None:
    """The host loses the network: its link on the LAN goes down (its engine and containers run on)."""
    ip("link", "set", host.link, "down", netns=LAN)


def reconnect(host: Host) -> None:
    ip("link", "set", host.link, "up", netns=LAN)


def move_image(source: Host | None, target: Host, images: list[str]) -> float:
    """``docker save | docker load`` from ``source``'s engine (None: this machine's DOCKER_HOST) into
    ``target``'s, as a user without a registry moves an image. Images ``target`` already holds with
    the same id are skipped. Returns the seconds taken."""
    t0 = time.monotonic()
    src_env = {**os.environ, **({"DOCKER_HOST": source.engine.host} if source else {})}

    def image_id(env: dict[str, str], image: str) -> str:
        proc = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image], capture_output=True,
                              text=True, env=env, timeout=60)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    dst_env = {**os.environ, "DOCKER_HOST": target.engine.host}
    missing = [i for i in images if image_id(src_env, i) != image_id(dst_env, i)]
    if missing:
        save = subprocess.Popen(["docker", "save", *missing], stdout=subprocess.PIPE, env=src_env)
        load = subprocess.run(["docker", "load"], stdin=save.stdout, capture_output=True, env=dst_env, timeout=1800)
        assert save.stdout is not None
        save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise AssertionError(f"docker save | docker load into {target.name} failed: {load.stderr[-2000:]!r}")
    return time.monotonic() - t0


def clean(engine: Engine) -> None:
    """Every container, volume and network of the engine gone; its images stay (a cache)."""
    env = {**os.environ, "DOCKER_HOST": engine.host}

    def listed(*args: str) -> list[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=60).stdout.split()

    if ids := listed("ps", "-aq"):
        subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True, env=env, timeout=300)
    if volumes := listed("volume", "ls", "-q"):
        subprocess.run(["docker", "volume", "rm", "-f", *volumes], capture_output=True, env=env, timeout=300)
    subprocess.run(["docker", "network", "prune", "-f"], capture_output=True, env=env, timeout=120)


def teardown() -> None:
    """Remove everything recorded as made: each engine's containers (and volumes), the engines (by
    PID), the namespaces (with the links in them) and this machine's link."""
    made = json.loads(MADE.read_text()) if MADE.exists() else {}
    for root in made.get("engine", []):
        engine = Engine(Path(root), Path("/nonexistent"))  # running() and stop() need only its root
        if engine.running():
            clean(engine)
        engine.stop()
    if ip("link", "show", OPERATOR_LINK, check=False).returncode == 0:
        ip("link", "del", OPERATOR_LINK, check=False)
    present = namespaces()
    for ns in made.get("netns", []):
        if ns in present:
            ip("netns", "del", ns, check=False)
    MADE.unlink(missing_ok=True)


def leftovers() -> list[str]:
    """What of ours is still there: namespaces, this machine's link, running engines."""
    left = [ns for ns in namespaces() if ns.startswith(PREFIX)]
    if ip("link", "show", OPERATOR_LINK, check=False).returncode == 0:
        left.append(f"link {OPERATOR_LINK}")
    hosts_root = CACHE / "hosts"
    if hosts_root.exists():
        for root in hosts_root.iterdir():
            engine = Engine(root, Path("/nonexistent"))
            if engine.pid_file.exists() and engine.running():
                left.append(f"engine {root}")
    return left
