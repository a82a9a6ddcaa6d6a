"""Stand-in images for machines with no image registry (this one, air-gapped sites).

    python scripts/cluster_images.py          # builds what is missing or changed; prints the tags

docker-compose.yaml names the images a user pulls (python:3.11-slim-bookworm as our base,
postgres:16-bookworm, apache/hadoop:3). Where none can be pulled, docker-compose.offline.yaml
swaps in these, built here from Debian packages only and named as stand-ins:

| stand-in | from | replaces |
|---|---|---|
| salary-offline/debian:bookworm | `debootstrap --variant=minbase bookworm` + `docker import` | the base of the others |
| salary-offline/python:3.11-bookworm | Debian 12's python3.11 | python:3.11-slim-bookworm |
| salary-offline/postgres:15 | Debian 12's postgresql-15 | postgres:16-bookworm |
| salary-offline/hadoop:2.7.3 | Hadoop 2.7.3 daemons (devtools.services.hdfs), Debian Jersey 1, JRE 17 | apache/hadoop:3 |

Each image carries a label with the digest of what it was built from; an image whose label
matches is reused. Builds use the host network (bridge containers here cannot reach the
package registries). Nothing of this machine (no CA bundle, no secret) goes into an image.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from devtools.services import REPO, hdfs

OFFLINE = REPO / "docker" / "offline"
BASE = "salary-offline/debian:bookworm"
MIRROR = "http://deb.debian.org/debian"
SOURCES = (f"deb {MIRROR} bookworm main\n"
           f"deb {MIRROR} bookworm-updates main\n"
           "deb http://deb.debian.org/debian-security bookworm-security main\n")
LABEL = "org.salary-pipeline.source-digest"
STANDINS = {  # tag -> (Dockerfile, files of its context besides the Dockerfile)
    "salary-offline/python:3.11-bookworm": ("python.Dockerfile", ()),
    "salary-offline/postgres:15": ("postgres.Dockerfile", ("postgres-entrypoint.sh",)),
    "salary-offline/hadoop:2.7.3": ("hadoop.Dockerfile", ("hdfs",)),
}


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=True, **kwargs)


def label_of(tag: str) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}', tag],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def debian_base() -> str:
    """Debian 12 minbase from the Debian registry, imported as an image (about a minute)."""
    want = digest(SOURCES.encode(), b"minbase bookworm")
    if label_of(BASE) == want:
        return BASE
    if shutil.which("debootstrap") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="debootstrap-") as tmp:
        root = Path(tmp) / "root"
        print(f"[images] debootstrap bookworm -> {BASE}", file=sys.stderr)
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root), MIRROR], check=True,
                       stdout=subprocess.DEVNULL)
        (root / "etc" / "apt" / "sources.list").write_text(SOURCES)
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        docker("import", "--change", f"LABEL {LABEL}={want}", "--change", 'CMD ["bash"]', "-", BASE,
               stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise SystemExit("[images] tar of the debootstrapped root failed")
    return BASE


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link where the filesystem allows, a copy elsewhere (large files into a build context)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build_labelled(tag: str, want: str, fill: Callable[[Path], str], network: str = "default") -> str:
    """``tag``, reused when its label says it was built from ``want``, else built (classic builder)
    from a temporary context that ``fill`` writes, returning its Dockerfile's name."""
    if label_of(tag) == want:
        return tag
    print(f"[images] building {tag}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="image-") as tmp:
        ctx = Path(tmp)
        dockerfile = fill(ctx)
        docker("build", "--network", network, "--label", f"{LABEL}={want}", "-t", tag, "-f",
               str(ctx / dockerfile), str(ctx), stdout=subprocess.DEVNULL,
               env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return tag


def standin(tag: str, base_digest: str) -> str:
    dockerfile, files = STANDINS[tag]
    sources = [OFFLINE / dockerfile, *(OFFLINE / f for f in files)]
    jars = hdfs.fetch() if tag.startswith("salary-offline/hadoop") else None
    jar_names = sorted(p.name for p in jars.glob("*.jar")) if jars else []
    want = digest(base_digest.encode(), *(p.read_bytes() for p in sources), "\n".join(jar_names).encode())

    def fill(ctx: Path) -> str:
        for src in sources:
            shutil.copy2(src, ctx / src.name)
        if jars:
            (ctx / "jars").mkdir()
            for name in jar_names:
                link_or_copy(jars / name, ctx / "jars" / name)
        return dockerfile

    return build_labelled(tag, want, fill, network="host")


def build_all() -> list[str]:
    base = debian_base()
    base_digest = label_of(base) or ""
    return [base, *(standin(tag, base_digest) for tag in STANDINS)]


def main() -> int:
    for tag in build_all():
        print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
