"""Publication: rejected drops keep their data and reason; names reused never hide earlier results."""

from __future__ import annotations

from salary.drops.claims import claim_drops
from salary.drops.publish import already_published, publish_all, rejected_folder, stage_rejected, staging_dir
from salary.lake import join
from tests.helpers import STORE, lake_io, put


def test_publish_rejected_drop_keeps_data_and_reason(lake):
    put(join(lake.incoming, "bad.parquet"), b"garbage")
    claim_drops(lake_io(lake), "run_a", ["bad.parquet"], lease_seconds=60)
    stage_rejected(STORE, join(staging_dir(lake, "run_a", "bad.parquet"), "rejected"), "bad.parquet",
                   "bad.parquet: not a readable Parquet file", {}, None, "run_a")
    out = publish_all(lake_io(lake), "run_a", [{"drop": "bad.parquet", "status": "rejected"}])
    assert out["rejected"] == ["bad.parquet"]
    reason = STORE.read_json(join(lake.rejected_drops, "bad.parquet", "_REASON.json"))
    assert "not a readable Parquet file" in reason["reason"]
    fs, path = STORE.filesystem(join(lake.rejected_drops, "bad.parquet", "bad.parquet"))
    assert fs.cat_file(path) == b"garbage"  # nothing lost
    assert not fs.exists(STORE.filesystem(lake.claimed("run_a"))[1])
    # Publishing again (a retry after a crash) changes nothing and loses nothing.
    publish_all(lake_io(lake), "run_a", [{"drop": "bad.parquet", "status": "rejected"}])
    assert fs.cat_file(path) == b"garbage"


def test_a_reused_drop_name_never_hides_the_earlier_one(lake):
    assert already_published(lake_io(lake), "d.parquet") is None
    STORE.write_atomic(join(lake.predictions("d.parquet"), "_MANIFEST.json"), b'{"run": "run_a"}')
    assert already_published(lake_io(lake), "d.parquet") is None  # no _SUCCESS yet: not published
    STORE.write_atomic(join(lake.predictions("d.parquet"), "_SUCCESS"), b"")
    assert already_published(lake_io(lake), "d.parquet") == {"run": "run_a"}

    assert rejected_folder(lake_io(lake), "d.parquet", "run_b") == join(lake.rejected_drops, "d.parquet")
    STORE.write_atomic(join(lake.rejected_drops, "d.parquet", "_REASON.json"), b'{"run": "run_a"}')
    assert rejected_folder(lake_io(lake), "d.parquet", "run_a") == join(lake.rejected_drops, "d.parquet")
    assert rejected_folder(lake_io(lake), "d.parquet", "run_b") == join(lake.rejected_drops, "d.parquet.run_b")
