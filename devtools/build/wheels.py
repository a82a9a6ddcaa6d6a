"""An image of wheels for the image build: those pip already built here for the lock's pins.

    python -m devtools.build.wheels     # builds (or reuses) it; prints its tag, or nothing

Set-up installs requirements/lock.txt into the venv, and pip keeps the wheels it builds from
sdists in its cache (krb5 and gssapi compile C, pyspark packs its jars into a 450 MB wheel:
about two minutes on 2 cores). The image build would build them again from nothing; given this
image (``WHEELS_IMAGE``, ``SALARY_WHEELS_IMAGE`` in docker-compose.yaml) it installs them
instead. Only wheels of a pinned name and version that this interpreter can install are taken
(the image's base is the same Debian release and Python minor), so a stale or foreign wheel in
the cache changes nothing. The image (``FROM scratch``, the wheels at its root) is tagged by
what it holds and reused while that is unchanged, so the image build's pip layer stays cached.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from packaging.tags import sys_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from devtools.build.images import build_labelled, digest, docker, link_or_copy
from devtools.services import REPO

LOCK = REPO / "requirements" / "lock.txt"
REPOSITORY = "salary-wheels"


def pins(lock: Path = LOCK) -> dict[str, Version]:
    """``name==version`` lines of a lock, by canonical name."""
    out: dict[str, Version] = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[canonicalize_name(name.split("[", 1)[0])] = Version(version.split(";", 1)[0].strip())
    return out


def cached_wheels() -> list[Path]:
    """The wheels in pip's cache that pip built here (``pip cache list``); none when pip's cache
    is off or empty."""
    proc = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "--format", "abspath",
                           "--disable-pip-version-check"], capture_output=True, text=True)
    if proc.returncode != 0:
        return []
    return [Path(line) for line in proc.stdout.splitlines() if line.endswith(".whl")]


def select(wheels: list[Path], wanted: dict[str, Version]) -> list[Path]:
    """One wheel per pinned name and version that this interpreter installs (the newest file
    when pip's cache holds several builds of it)."""
    supported = set(sys_tags())
    chosen: dict[str, Path] = {}
    for wheel in wheels:
        try:
            name, version, _, tags = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename:
            continue
        if wanted.get(name) != version or not tags & supported:
            continue
        if name not in chosen or wheel.stat().st_mtime > chosen[name].stat().st_mtime:
            chosen[name] = wheel
    return sorted(chosen.values(), key=lambda p: p.name)


def image(lock: Path = LOCK, wheels: list[Path] | None = None) -> str | None:
    """The tag of an image holding the selected wheels (built, or reused when one holds the same
    files; older ones are removed); None when pip's cache has none of them."""
    chosen = select(cached_wheels() if wheels is None else wheels, pins(lock))
    if not chosen:
        return None
    want = digest(*(f"{p.name} {p.stat().st_size} {p.stat().st_mtime_ns}".encode() for p in chosen))
    tag = f"{REPOSITORY}:{want}"

    def fill(ctx: Path) -> str:
        for wheel in chosen:
            link_or_copy(wheel, ctx / wheel.name)
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY *.whl /\n")
        return "Dockerfile"

    build_labelled(tag, want, fill)
    older = docker("images", REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}", capture_output=True, text=True)
    for old in set(older.stdout.split()) - {tag}:
        docker("rmi", old, stdout=subprocess.DEVNULL)
    return tag


def main(argv: list[str] | None = None) -> int:
    del argv
    tag = image()
    if tag:
        print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
