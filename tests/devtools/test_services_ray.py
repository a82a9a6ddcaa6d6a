"""The embedded Ray node (devtools.services.ray) takes only clients with the token: Ray 2.60
binds some of its ports on every interface, so loopback addresses alone do not keep it private."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def status(url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_jobs_api_refuses_clients_without_the_token(ray_cluster):
    token_file = Path(os.environ["RAY_AUTH_TOKEN_PATH"])
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    token = token_file.read_text().strip()
    assert len(token) == 64
    url = f"{ray_cluster}/api/jobs/"
    assert status(url, None) == 401
    assert status(url, "not-the-token") in (401, 403)
    assert status(url, token) == 200


def test_ray_clients_of_the_embedded_default_authenticate_from_the_environment(ray_cluster):
    from ray.job_submission import JobSubmissionClient

    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert JobSubmissionClient(ray_cluster).list_jobs() is not None
