"""The level each forwarded Ray job line is logged at (fast: no Ray)."""

from __future__ import annotations

import logging

import pytest

from salary_airflow.hooks.ray import line_level


@pytest.mark.parametrize(("line", "previous", "expected"), [
    ("2026-11-25 17:51:55,108 INFO salary.summary: JOB_SUMMARY {}", logging.INFO, logging.INFO),
    ("2026-11-25 17:51:55,108 WARNING salary.drops: drop x rejected", logging.INFO, logging.WARNING),
    ("2026-11-25 17:59:22,826\tINFO worker.py:1841 -- Connecting to existing Ray cluster", logging.INFO,
     logging.INFO),
    ("2026-11-25 17:59:22,826\tERROR tune.py:1 -- Trial failed", logging.INFO, logging.ERROR),
    ("Traceback (most recent call last):", logging.ERROR, logging.ERROR),
    ('  File "x.py", line 1, in <module>', logging.ERROR, logging.ERROR),
    ("(pid=123) Trial trial_1 finished with ERROR-free status", logging.ERROR, logging.INFO),
    ("hello-from-ray", logging.WARNING, logging.INFO),
])
def test_forwarded_lines_keep_their_own_level(line, previous, expected):
    assert line_level(line, previous) == expected
