"""Claims: of two runs exactly one wins each drop; retries resume, expired leases are taken over."""

from __future__ import annotations

import datetime as dt
import threading

from salary.drops.claims import claim_drops
from salary.drops.listing import list_complete
from salary.lake import join
from tests.helpers import drop_table, lake_io, put


def test_two_runs_claim_each_drop_once(lake):
    drops = [f"d{i}.parquet" for i in range(8)]
    for d in drops:
        put(join(lake.incoming, d), drop_table(2))
    won: dict[str, list[str]] = {}

    def claim(owner: str) -> None:
        won[owner] = [c.drop for c in claim_drops(lake_io(lake), owner, drops, lease_seconds=3600)]

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in ("run_a", "run_b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won["run_a"] + won["run_b"]) == drops  # every drop once, none twice
    assert list_complete(lake.incoming) == []


def test_claims_resume_and_lease_takeover(lake):
    put(join(lake.incoming, "a.parquet"), drop_table(2))
    [claim] = claim_drops(lake_io(lake), "run_a", ["a.parquet"], lease_seconds=60)
    assert (claim.drop, claim.how) == ("a.parquet", "new")
    # The same run's retry resumes its claim; another run leaves it alone within the lease ...
    resumed = claim_drops(lake_io(lake), "run_a", [], lease_seconds=60)
    assert [(c.drop, c.how) for c in resumed] == [("a.parquet", "resumed")]
    assert claim_drops(lake_io(lake), "run_b", [], lease_seconds=60) == []
    # ... and takes it over once the lease has expired.
    later = dt.datetime.now().timestamp() + 120
    taken = claim_drops(lake_io(lake), "run_b", [], lease_seconds=60, now=later)
    assert [(c.drop, c.how) for c in taken] == [("a.parquet", "taken over")]
