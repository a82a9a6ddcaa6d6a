"""The ``stack`` fixture: the compose stack of the shipped files on a real Docker engine (ours,
started by PID, unless DOCKER_HOST names one that answers), torn down with ``down -v`` also when
a test fails. Official images when they can be pulled, else the stand-ins of
docker-compose.offline.yaml (SALARY_CLUSTER_IMAGES=official|offline forces a choice).
SALARY_CLUSTER_KEEP=1 leaves the stack (and the engine) running afterwards, for a look."""

from __future__ import annotations

import os
import runpy
import time

import pytest
from cluster_stack import OUT, REPO, Stack, StatsSampler, Timer, pullable, write_env_file


@pytest.fixture(scope="session")
def stack():
    OUT.mkdir(parents=True, exist_ok=True)
    timer = Timer(OUT / "timings.json")
    engine = runpy.run_path(str(REPO / "scripts" / "docker_engine.py"))
    t0 = time.monotonic()
    ours = not (os.environ.get("DOCKER_HOST") and engine["answers"](os.environ["DOCKER_HOST"]))
    os.environ["DOCKER_HOST"] = engine["start"]()
    timer("docker engine ready", time.monotonic() - t0)
    env = write_env_file(OUT / ".env")
    files = ["docker-compose.yaml"]
    s = Stack(OUT / ".env", files, env)
    mode = os.environ.get("SALARY_CLUSTER_IMAGES") or ("official" if pullable(s.docker) else "offline")
    if mode == "offline":
        t0 = time.monotonic()
        runpy.run_path(str(REPO / "scripts" / "cluster_images.py"))["build_all"]()
        timer("stand-in images (built or reused)", time.monotonic() - t0)
        s.files.append("docker-compose.offline.yaml")
    sampler = StatsSampler(s)
    try:
        s.compose("down", "-v", "--remove-orphans", timeout=300)  # leftovers of an interrupted run
        t0 = time.monotonic()
        s.compose("build", timeout=3600)
        timer("image build (salary-pipeline, cached layers reused)", time.monotonic() - t0)
        t0 = time.monotonic()
        sampler.start()
        s.compose("up", "-d", "--wait", "--wait-timeout", "600", timeout=900)
        timer("up --wait (every service healthy)", time.monotonic() - t0)
        s.timer, s.sampler, s.mode = timer, sampler, mode
        yield s
    finally:
        try:  # what a failed run needs for its diagnosis; never in the way of the teardown
            sampler.stop()
            logs = s.compose("logs", "--no-color", "--timestamps", check=False, timeout=300)
            (OUT / "compose-logs.txt").write_text(logs.stdout + logs.stderr)
        except Exception as exc:  # noqa: BLE001
            print(f"could not save the stack's logs: {exc!r}")
        if os.environ.get("SALARY_CLUSTER_KEEP") == "1":
            print(f"stack kept: DOCKER_HOST={os.environ['DOCKER_HOST']}, env file {s.env_file}, UI {s.ui}")
        else:
            t0 = time.monotonic()
            try:
                s.compose("down", "-v", "--remove-orphans", check=False, timeout=600)
                timer("down -v", time.monotonic() - t0)
            finally:
                if ours:
                    engine["stop"]()
