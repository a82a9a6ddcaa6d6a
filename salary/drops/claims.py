"""Claiming drops for one prediction run: one rename each, so of two runs exactly one wins.

A run's own unfinished claims are resumed by its retries; another run's claims are taken over
only after a lease expires (its claim record says when it claimed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from salary.drops import CLAIM_RECORD
from salary.drops.listing import complete_drops
from salary.lake import LakeIO, is_visible, join, path_segment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    drop: str
    how: str  # "new", "resumed" (this run's own earlier claim) or "taken over" (lease expired)


def _claim_new(lake: LakeIO, owner: str, wanted: Sequence[str]) -> list[Claim]:
    mine = lake.paths.claimed(owner)
    ready = set(complete_drops(lake.store.entries(lake.paths.incoming)))
    claims = []
    for drop in wanted:
        if drop not in ready:
            log.info("drop %s is no longer complete in incoming/ (claimed by another run?): skipped", drop)
            continue
        try:
            lake.store.rename(join(lake.paths.incoming, drop), join(mine, drop))
            claims.append(Claim(drop, "new"))
        except FileNotFoundError:
            log.info("drop %s was claimed by another run first: skipped", drop)
        except FileExistsError:
            log.warning("a drop named %s is already claimed by this run; the new one waits in incoming/", drop)
    return claims


def _take_over_expired(lake: LakeIO, owner: str, lease_seconds: float, now: float) -> list[Claim]:
    claimed_root, mine = join(lake.paths.drops, "claimed"), lake.paths.claimed(owner)
    claims = []
    for other in lake.store.names(claimed_root):
        if other == path_segment(owner):
            continue
        theirs = join(claimed_root, other)
        record = lake.store.read_json(join(theirs, CLAIM_RECORD)) or {}
        age = now - float(record.get("claimed_at") or lake.store.mtime(theirs))
        if age < lease_seconds:
            continue
        for drop in (d for d in lake.store.names(theirs) if is_visible(d)):
            try:
                lake.store.rename(join(theirs, drop), join(mine, drop))
            except (FileNotFoundError, FileExistsError):
                continue
            log.warning("took over drop %s from run %s (claimed %.0f s ago, lease %.0f s)",
                        drop, other, age, lease_seconds)
            claims.append(Claim(drop, "taken over"))
    return claims


def claim_drops(lake: LakeIO, owner: str, wanted: Sequence[str], lease_seconds: float,
                now: float | None = None) -> list[Claim]:
    """Claim ``wanted`` drops for ``owner``; resume its own claims; take over expired ones.

    A drop another run claimed first is skipped (its rename fails: exactly one run wins).
    """
    now = time.time() if now is None else now
    claims = [Claim(d, "resumed") for d in lake.store.names(lake.paths.claimed(owner)) if is_visible(d)]
    claims += _claim_new(lake, owner, wanted)
    claims += _take_over_expired(lake, owner, lease_seconds, now)
    if claims:
        lake.store.write_json(join(lake.paths.claimed(owner), CLAIM_RECORD),
                         {"owner": owner, "claimed_at": now, "drops": [c.drop for c in claims]})
    return claims
