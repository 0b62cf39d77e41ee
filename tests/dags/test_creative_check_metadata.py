"""End to end: metadata edited on a platform behind our back, found by ``creative_check`` and
repaired through ``creative_sync`` (``dag.test()`` against the sandbox).

The sync sends a ``creatives.yaml``'s metadata; someone edits a field in the platform's own
UI (``POST /_sandbox/drift`` ``action: metadata``); the check compares each platform's listing
with what the ledger recorded as sent. Which calls were made comes from the sandbox journal.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import requests

from airflow_creative_provider.sync.ledger import Ledger, drift_table
from tests.dags.test_creative_check import _creates, _last_seq, _ready_records, _run, _writes
from tests.dags.test_creative_check import fresh_env as fresh_env  # the fixture
from tests.support.dags import SAMPLES

BANNER = "banners/summer_sale_1200x628.jpg"
LOGO = "logos/sunline_logo_600x600.png"

MANIFEST = """
name_template: "{folder}-{stem}"
defaults:
  tags: [spring-2026]
files:
  "banners/*":
    name: "Spring banner {stem}"
    description: Homepage banner
    category: Banners
    tags: [spring-2026, homepage]
    amazon_ads:
      asinList: [B000000001]
    mediamath:
      start_date: "2026-03-01T00:00:00"
      end_date: "2026-05-31T00:00:00"
    topsort:
      metadata: {campaign: spring}
"""

#: the update each platform documents (``sync.metadata.UPDATABLE``), as a journal (method, path end).
UPDATE_CALL = {"mediamath": ("POST", "/creatives/{id}"), "mediapocket": ("PUT", "/assets/{id}")}


def _source(root: Path) -> Path:
    source = root / "meta_source"
    for key in (BANNER, LOGO):
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / key, source / key)
    (source / "creatives.yaml").write_text(MANIFEST)
    return source


def _edit_there(sandbox, platform: str, remote_id: str, fields: dict[str, Any]) -> None:
    response = requests.post(
        f"{sandbox.url}/_sandbox/drift",
        json={"platform": platform, "remote_id": remote_id, "action": "metadata", "fields": fields},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _banner(platform: str) -> Any:
    return next(r for r in _ready_records(platform) if r.file_key == BANNER)


def _differences(report: dict[str, Any], kind: str = "metadata_changed") -> dict[str, dict[str, Any]]:
    return {d["platform"]: d for d in report["differences"] if d["kind"] == kind}


def test_metadata_edited_there_is_reported_then_updated_by_creative_sync(fresh_env, tmp_path: Path) -> None:
    sandbox, _ = fresh_env
    source = _source(tmp_path)
    conf = {"source": str(source), "platforms": ["mediapocket", "mediamath"]}
    run, _ = _run("creative_sync", conf)
    assert run.state == "success", run.task_states
    pocket, t1 = _banner("mediapocket"), _banner("mediamath")

    _, clean = _run("creative_check", conf)
    assert clean["drift"]["metadata_changed"] == 0, clean["differences"]  # what was sent is what is there

    # Someone edits the banner in each platform's UI: a title and a tag, an end date.
    _edit_there(sandbox, "mediapocket", pocket.remote_id, {"title": "Renamed by the studio", "tags": ["spring-2026"]})
    _edit_there(sandbox, "mediamath", t1.remote_id, {"end_date": "2026-06-30T00:00:00"})

    # Read-only by default: reported, field by field, ledger value vs platform value.
    before = _last_seq(sandbox)
    run, report = _run("creative_check", conf)
    assert run.state == "success", run.task_states
    assert _writes(sandbox, before) == []
    assert report["drift"]["metadata_changed"] == 2 and report["differences_total"] == 2, report["differences"]
    found = _differences(report)
    assert found["mediapocket"]["remote_id"] == pocket.remote_id and found["mediapocket"]["file_key"] == BANNER
    assert found["mediapocket"]["fields"] == {
        "title": {"ledger": "Spring banner summer_sale_1200x628", "platform": "Renamed by the studio"},
        "tags": {"ledger": ["spring-2026", "homepage"], "platform": ["spring-2026"]},
    }
    assert (
        "title: ledger 'Spring banner summer_sale_1200x628' vs mediapocket 'Renamed by the studio'"
        in (found["mediapocket"]["detail"])
    )
    assert found["mediamath"]["fields"] == {
        "end_date": {"ledger": "2026-05-31T00:00:00", "platform": "2026-06-30T00:00:00"}
    }
    assert report["counts"]["mediamath"]["ok"] == report["counts"]["mediamath"]["checked"] - 1
    assert report["next_step"] == "trigger creative_check with repair=true to update the changed metadata"

    # The ledger: the drift rows (the Creatives page's badge), the metadata sent left as it was.
    from airflow_creative_provider.ui.queries import AssetFilter, list_assets

    ledger = Ledger()
    with ledger.begin() as conn:
        rows = conn.execute(drift_table.select().where(drift_table.c.kind == "metadata_changed")).mappings().all()
    assert {(r["platform"], r["remote_id"]) for r in rows} == {
        ("mediapocket", pocket.remote_id),
        ("mediamath", t1.remote_id),
    }
    assert all("ledger" in r["detail"] for r in rows)
    page = list_assets(ledger, AssetFilter(limit=200))
    badges = {
        (cell["platform"], cell["remote_id"]): cell["drift"]["kind"]
        for row in page.rows
        for cell in row["cells"].values()
        if cell and cell.get("drift")
    }
    assert badges == {
        ("mediapocket", pocket.remote_id): "metadata_changed",
        ("mediamath", t1.remote_id): "metadata_changed",
    }
    sent = ledger.asset_metadata(t1.sha256)[("mediamath", t1.account)]["fields"]
    assert sent["end_date"] == "2026-05-31T00:00:00"

    # repair=true: still nothing written to a platform; marked for the next creative_sync.
    before = _last_seq(sandbox)
    run, report = _run("creative_check", {**conf, "repair": True})
    assert run.state == "success"
    assert _writes(sandbox, before) == []
    assert report["repaired"] == 2 and all(d["repaired"] for d in report["differences"])
    assert report["next_step"] == (
        "2 metadata change(s) marked for an update: the next creative_sync run updates them (no bytes sent)"
    )

    # The next creative_sync: exactly one update call per platform, no upload, no create.
    before = _last_seq(sandbox)
    run, _ = _run("creative_sync", conf)
    assert run.state == "success", run.task_states
    writes = _writes(sandbox, before)
    assert not [e for e in sandbox.journal() if e["seq"] > before and e.get("sha256")], "no bytes are uploaded"
    assert not _creates(sandbox, "mediapocket", before) and not _creates(sandbox, "mediamath", before)
    for platform, record in (("mediapocket", pocket), ("mediamath", t1)):
        method, path = UPDATE_CALL[platform]
        mine = [(e["method"], e["path"]) for e in writes if e["platform"] == platform]
        assert len(mine) == 1 and mine[0][0] == method, (platform, mine)
        assert mine[0][1].endswith(path.format(id=record.remote_id)), (platform, mine)
    sent = ledger.asset_metadata(t1.sha256)[("mediamath", t1.account)]["fields"]
    assert sent["end_date"] == "2026-05-31T00:00:00"  # the manifest's, sent again

    # Checked a third time: the platforms hold the manifest's metadata again.
    run, report = _run("creative_check", conf)
    assert run.state == "success"
    assert report["differences_total"] == 0, report["differences"]
    assert report["drift"]["metadata_changed"] == 0 and report["next_step"] is None


def test_metadata_edited_where_no_update_exists_is_reported_and_left(fresh_env, tmp_path: Path) -> None:
    sandbox, _ = fresh_env
    source = _source(tmp_path)
    conf = {"source": str(source), "platforms": ["amazon_ads", "topsort", "delta_projects"]}
    run, _ = _run("creative_sync", conf)
    assert run.state == "success", run.task_states
    amazon, topsort, delta = _banner("amazon_ads"), _banner("topsort"), _banner("delta_projects")
    _edit_there(sandbox, "amazon_ads", amazon.remote_id, {"name": "Renamed in Amazon"})
    _edit_there(sandbox, "topsort", topsort.remote_id, {"metadata": {"campaign": "autumn"}})
    _edit_there(sandbox, "delta_projects", delta.remote_id, {"name": "renamed_in_delta.jpg"})

    run, report = _run("creative_check", {**conf, "repair": True})
    assert run.state == "success"
    found = _differences(report)
    assert found["amazon_ads"]["fields"] == {
        "name": {"ledger": "Spring banner summer_sale_1200x628", "platform": "Renamed in Amazon"}
    }
    assert found["topsort"]["fields"] == {
        "metadata": {"ledger": {"campaign": "spring"}, "platform": {"campaign": "autumn"}}
    }
    assert found["delta_projects"]["fields"]["name"]["platform"] == "renamed_in_delta.jpg"
    assert report["repaired"] == 0 and not any(d["repaired"] for d in report["differences"])
    notes = "\n".join(report["notes"])
    # said once: what the listing does not show, and why nothing is repaired
    assert notes.count("amazon_ads: its listing (POST /assets/search) does not show asinList: not checked") == 1
    assert "amazon_ads: 1 metadata change(s) that repair cannot send: Amazon Ads documents no update" in notes
    assert "topsort: 1 metadata change(s) that repair cannot send: Topsort documents no update" in notes
    assert "delta_projects: 1 metadata change(s) that repair cannot send: Delta Projects documents no rename" in notes
    assert report["next_step"] is None

    # Nothing was marked: the next creative_sync sends nothing, and the drift is still there.
    before = _last_seq(sandbox)
    run, _ = _run("creative_sync", conf)
    assert run.state == "success"
    assert _writes(sandbox, before) == []
    _, again = _run("creative_check", conf)
    assert again["drift"]["metadata_changed"] == 3
    # said without repair too
    assert "amazon_ads: 1 metadata change(s) that repair cannot send" in "\n".join(again["notes"])
