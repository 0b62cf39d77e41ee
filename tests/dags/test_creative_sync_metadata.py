"""End to end: metadata from the folder (``creatives.yaml``) through the ``creative_sync`` DAG and the sandbox.

What each platform stores is read back from the sandbox through the hooks' own GET calls;
which calls were made (an update, no byte upload) from the sandbox journal.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.sync.ledger import Ledger
from airflow_creative_provider.sync.report import report_rows
from tests.dags.test_creative_sync import SAMPLES, _creates, _last_seq, _run
from tests.dags.test_creative_sync import sync_env as sync_env  # the fixture

BANNER = "banners/summer_sale_1200x628.jpg"
ICON = "logos/app_icon_100x100.png"
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
    amazon_ads:
      asinList: [B000000001]
      assetSubTypeList: [LIFESTYLE_IMAGE]
    mediamath:
      start_date: "2026-03-01T00:00:00"
      end_date: "2026-05-31T00:00:00"
    topsort:
      metadata: {campaign: spring}
  logos/app_icon_100x100.png:
    topsort:
      metadata: {campaign: "%s"}
""" % ("x" * 65)


def _source(root: Path, manifest: str) -> Path:
    source = root / "meta_source"
    for key in (BANNER, ICON, LOGO):
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / key, source / key)
    (source / "creatives.yaml").write_text(manifest)
    return source


def _values(data: Any, key: str) -> list[Any]:
    """Every value of ``key`` anywhere in a JSON answer (the platforms nest their assets differently)."""
    found: list[Any] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                found.append(v)
            found.extend(_values(v, key))
    elif isinstance(data, list):
        for item in data:
            found.extend(_values(item, key))
    return found


def _remote(platform: str, remote_id: str) -> dict[str, Any]:
    """The asset as the platform holds it, read with the hook's GET call."""
    hook = hook_class(platform)(f"{platform}_default")
    if platform == "amazon_ads":
        return hook.get_asset(remote_id.split(":")[0])
    if platform == "mediamath":
        return hook.get_creative(remote_id)
    if platform == "delta_projects":
        return hook.get_file(remote_id)
    return hook.get_asset(remote_id)


def _ready(run: Any) -> dict[tuple[str, str], Any]:
    return {(r.key, r.platform): r for r in report_rows(run.run_id, ledger=Ledger())}


def test_metadata_is_sent_on_create_updated_alone_and_a_bad_value_is_refused(sync_env, tmp_path: Path) -> None:
    sandbox, _ = sync_env
    source = _source(tmp_path, MANIFEST)
    conf = {"source": str(source), "platforms": list(PLATFORMS)}
    run, report = _run(conf)
    assert run.state == "success", run.task_states
    rows = _ready(run)
    # the bad value: that file x platform is refused, naming the file, the field and the rule
    refused = rows[(ICON, "topsort")]
    assert refused.state == "refused"
    assert ICON in refused.reason and "'metadata'" in refused.reason and "the limit is 64" in refused.reason
    # ... and the rest of the run went on: every other file x platform is ready, the icon elsewhere too
    for platform in PLATFORMS:
        for key in (BANNER, ICON, LOGO):
            if (key, platform) != (ICON, "topsort"):
                assert rows[(key, platform)].state == "ready", (key, platform, rows[(key, platform)])
    remote = {k: r.remote_id for k, r in rows.items() if r.remote_id}

    # what each platform was given on create, read back from the platform
    topsort = _remote("topsort", remote[(BANNER, "topsort")])
    assert topsort["name"] == "Spring banner summer_sale_1200x628" and topsort["metadata"]["campaign"] == "spring"
    mediamath = _remote("mediamath", remote[(BANNER, "mediamath")])
    assert mediamath["creative_name"] == "Spring banner summer_sale_1200x628"
    assert mediamath["start_date"].startswith("2026-03-01") and mediamath["end_date"].startswith("2026-05-31")
    pocket = _remote("mediapocket", remote[(BANNER, "mediapocket")])
    assert (pocket["title"], pocket["description"], pocket["category"]) == (
        "Spring banner summer_sale_1200x628",
        "Homepage banner",
        "banners",
    )
    assert pocket["tags"] == ["spring-2026"]
    amazon = _remote("amazon_ads", remote[(BANNER, "amazon_ads")])
    assert "Spring banner summer_sale_1200x628" in _values(amazon, "name")
    tags = {t for found in _values(amazon, "tags") for t in found}
    assert {"spring-2026", "B000000001"} <= tags
    assert ["LIFESTYLE_IMAGE"] in _values(amazon, "assetSubTypes")
    assert _remote("delta_projects", remote[(BANNER, "delta_projects")])["name"] == (
        "Spring banner summer_sale_1200x628.jpg"
    )
    # a file without an entry: the name template
    assert _remote("mediapocket", remote[(LOGO, "mediapocket")])["title"] == "logos-sunline_logo_600x600"
    # the ledger keeps what was sent
    sent = Ledger().asset_metadata(rows[(BANNER, "mediamath")].sha256)
    assert [v["fields"]["creative_name"] for (p, _), v in sent.items() if p == "mediamath"] == [
        "Spring banner summer_sale_1200x628"
    ]
    assert {p for p, _ in sent} == set(PLATFORMS)

    # only the metadata changes: an update where the platform has one, no byte sent anywhere
    (source / "creatives.yaml").write_text(
        MANIFEST.replace("Spring banner {stem}", "Summer banner {stem}").replace("Homepage banner", "Front page")
    )
    since = _last_seq(sandbox)
    run2, report2 = _run(conf)
    assert run2.state == "success", run2.task_states
    calls = [e for e in sandbox.journal() if e["seq"] > since]
    assert not any(_creates(sandbox, p, since) for p in PLATFORMS), "nothing is created again"
    assert not [e for e in calls if e.get("sha256")], "no bytes are uploaded again"
    mm_id, mp_id = remote[(BANNER, "mediamath")], remote[(BANNER, "mediapocket")]
    assert [e for e in calls if e["method"] == "POST" and e["path"].endswith(f"/creatives/{mm_id}")]
    assert [e for e in calls if e["method"] == "PUT" and e["path"].endswith(f"/assets/{mp_id}")]
    assert _remote("mediamath", mm_id)["creative_name"] == "Summer banner summer_sale_1200x628"
    pocket = _remote("mediapocket", mp_id)
    assert (pocket["title"], pocket["description"]) == ("Summer banner summer_sale_1200x628", "Front page")
    rows2 = _ready(run2)
    assert rows2[(BANNER, "mediamath")].action == "update" and rows2[(BANNER, "mediamath")].state == "ready"
    # where no update exists the report says what happens
    for platform, words in (
        ("amazon_ads", "Amazon Ads documents no update"),
        ("topsort", "Topsort documents no update"),
        ("delta_projects", "Delta Projects documents no rename"),
    ):
        row = rows2[(BANNER, platform)]
        assert row.action == "keep" and row.state == "ready" and words in (row.reason or ""), row
    assert _remote("topsort", remote[(BANNER, "topsort")])["name"] == "Spring banner summer_sale_1200x628"
    warned = [w for w in report2["warnings"] if "metadata of 1 file(s) changed, not updated" in w]
    assert sorted(w.split(":")[0] for w in warned) == ["amazon_ads", "delta_projects", "topsort"]
    # the files whose metadata did not change were left alone
    assert (LOGO, "mediamath") not in rows2

    # a rerun: the updates are recorded, nothing is updated again
    since = _last_seq(sandbox)
    run3, _ = _run(conf)
    assert run3.state == "success"
    assert not [e for e in sandbox.journal() if e["seq"] > since and e["method"] in ("POST", "PUT")]


def test_metadata_from_an_s3_source(sync_env) -> None:
    sandbox, _ = sync_env
    s3 = sandbox.state.s3
    bucket = s3.ensure_bucket("staging")
    for key in (BANNER, ICON):
        s3.client.upload_file(str(SAMPLES / key), bucket, f"meta/{key}")
    s3.client.put_object(Bucket=bucket, Key="meta/creatives.yaml", Body=MANIFEST.encode())
    run, _ = _run({"source": f"s3://creative_sandbox_s3@{bucket}/meta", "platforms": ["mediamath", "topsort"]})
    assert run.state == "success", run.task_states
    rows = _ready(run)
    assert "creatives.yaml" not in {key for key, _ in rows}, "the manifest is never sent as a creative"
    assert rows[(ICON, "topsort")].state == "refused" and "the limit is 64" in rows[(ICON, "topsort")].reason
    assert rows[(ICON, "mediamath")].state == "ready" and rows[(BANNER, "topsort")].state == "ready"
    creative = _remote("mediamath", rows[(BANNER, "mediamath")].remote_id)
    assert creative["creative_name"] == "Spring banner summer_sale_1200x628"
    assert _remote("mediamath", rows[(ICON, "mediamath")].remote_id)["creative_name"] == "logos-app_icon_100x100"
