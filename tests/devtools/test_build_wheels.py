"""devtools.build.wheels: which of pip's cached wheels go to the image build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devtools.build import images, wheels

LOCK = "# a lock\npyspark==4.2.0\nkrb5==0.10.0\ngssapi==1.12.0\npyspark-client==4.2.0  # pinned\n"
HERE = f"cp{sys.version_info.major}{sys.version_info.minor}"


def touch(folder: Path, name: str, mtime: float = 1_000_000.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(name.encode())
    os.utime(path, (mtime, mtime))
    return path


def cache_of(tmp_path: Path) -> list[Path]:
    cache = tmp_path / "cache"
    return [
        touch(cache / "a", "pyspark-4.2.0-py2.py3-none-any.whl"),
        touch(cache / "b", "pyspark-4.1.1-py2.py3-none-any.whl", mtime=3_000_000.0),  # another version, newer
        touch(cache / "c", f"krb5-0.10.0-{HERE}-abi3-linux_x86_64.whl", mtime=1_000_000.0),
        touch(cache / "d", f"krb5-0.10.0-{HERE}-abi3-linux_x86_64.whl", mtime=2_000_000.0),  # a later build
        touch(cache / "e", "gssapi-1.12.0-cp311-abi3-win_amd64.whl"),  # another platform
        touch(cache / "f", "pyspark_client-4.2.0-py2.py3-none-any.whl"),  # the name as a wheel spells it
        touch(cache / "g", "docopt-0.6.2-py2.py3-none-any.whl"),  # not in the lock
        touch(cache / "h", "not-a-wheel.whl"),
    ]


def test_only_pinned_versions_this_interpreter_installs_are_chosen(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text(LOCK)
    chosen = wheels.select(cache_of(tmp_path), wheels.pins(lock))
    assert [p.relative_to(tmp_path / "cache").as_posix() for p in chosen] == [
        f"d/krb5-0.10.0-{HERE}-abi3-linux_x86_64.whl", "a/pyspark-4.2.0-py2.py3-none-any.whl",
        "f/pyspark_client-4.2.0-py2.py3-none-any.whl"]


class FakeEngine:
    """Stands in for `docker` (build, image labels, images, rmi): what is built from which
    context, what is removed. A fake, named so: the choice of wheels and of reuse is ours; the
    real build and mount run in the cluster test."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {"salary-wheels:old": "old"}
        self.built: list[tuple[str, list[str]]] = []
        self.removed: list[str] = []

    def docker(self, *args: str, **kwargs):
        if args[0] == "build":
            tag, ctx = args[args.index("-t") + 1], Path(args[-1])
            self.labels[tag] = args[args.index("--label") + 1].split("=", 1)[1]
            self.built.append((tag, sorted(p.name for p in ctx.iterdir())))
            assert (ctx / "Dockerfile").read_text() == "FROM scratch\nCOPY *.whl /\n"
        elif args[0] == "images":
            return subprocess.CompletedProcess(args, 0, stdout="\n".join(self.labels) + "\n")
        elif args[0] == "rmi":
            self.removed.append(args[1])
            del self.labels[args[1]]
        return subprocess.CompletedProcess(args, 0, stdout="")


def test_the_image_holds_the_chosen_wheels_and_is_reused_while_they_are_the_same(tmp_path, monkeypatch):
    engine = FakeEngine()
    monkeypatch.setattr(wheels, "docker", engine.docker)
    monkeypatch.setattr(images, "docker", engine.docker)
    monkeypatch.setattr(images, "label_of", engine.labels.get)
    lock = tmp_path / "lock.txt"
    lock.write_text(LOCK)
    given = cache_of(tmp_path)

    tag = wheels.image(lock, given)
    assert tag is not None and tag.startswith("salary-wheels:")
    assert engine.built == [(tag, ["Dockerfile", f"krb5-0.10.0-{HERE}-abi3-linux_x86_64.whl",
                                   "pyspark-4.2.0-py2.py3-none-any.whl", "pyspark_client-4.2.0-py2.py3-none-any.whl"])]
    assert engine.removed == ["salary-wheels:old"]

    assert wheels.image(lock, given) == tag  # the same files: reused, nothing built
    assert len(engine.built) == 1

    touch(tmp_path / "cache" / "a", "pyspark-4.2.0-py2.py3-none-any.whl", mtime=4_000_000.0)  # rebuilt by pip
    newer = wheels.image(lock, given)
    assert newer != tag and len(engine.built) == 2 and engine.removed == ["salary-wheels:old", tag]

    assert wheels.image(lock, given[-2:]) is None  # none of the lock's: no image


def test_pins_read_the_lock_by_canonical_name(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("Flask_SQLAlchemy==3.1.1\nray[default]==2.60.0\n-e .\n\n")
    assert {k: str(v) for k, v in wheels.pins(lock).items()} == {"flask-sqlalchemy": "3.1.1", "ray": "2.60.0"}


def test_the_wheels_pip_built_come_from_its_cache(tmp_path):
    """A real pip: a wheel it keeps in its cache (PIP_CACHE_DIR) is listed; none when the cache is empty."""
    env = {**os.environ, "PIP_CACHE_DIR": str(tmp_path / "pip")}
    listed = [sys.executable, "-c", "from devtools.build import wheels; print(*wheels.cached_wheels())"]
    assert subprocess.run(listed, env=env, capture_output=True, text=True, check=True).stdout.split() == []
    built = touch(tmp_path / "pip" / "wheels" / "ab" / "cd", "hdfs-2.7.3-py3-none-any.whl")
    out = subprocess.run(listed, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(built)]
