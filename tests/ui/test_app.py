"""The Creatives page and its JSON API over a ledger filled by a real sync against the sandbox.

Authentication is Airflow's own: requests carry a JWT signed by the configured auth manager,
and requests without one go through the real ``requires_authenticated()`` and are refused.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.sync.ledger import Ledger, assets_table, files_table
from airflow_creative_provider.ui import thumbnails
from airflow_creative_provider.ui.app import create_app

from .conftest import REJECTED_NAME, SyncedLedger


@pytest.fixture(scope="module")
def client(synced_ledger: SyncedLedger, auth_headers: dict[str, str]) -> TestClient:
    return TestClient(create_app(synced_ledger.url), headers=auth_headers, root_path="/creative-sync")


def assets(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/assets", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def cell(item: dict[str, Any], platform: str) -> dict[str, Any] | None:
    return next((c for k, c in item["cells"].items() if k.startswith(f"{platform}:")), None)


# ----------------------------------------------------------------------------- the matrix
def test_matrix_shows_every_creative_and_platform_state_of_the_sync(
    client: TestClient, synced_ledger: SyncedLedger
) -> None:
    data = assets(client, limit=500)
    report = synced_ledger.reports["ui-1"]
    assert [c["platform"] for c in data["columns"]] == [
        "topsort",
        "amazon_ads",
        "mediamath",
        "mediapocket",
        "delta_projects",
    ]
    by_key = {item["key"]: item for item in data["items"]}
    names = {n: item for item in data["items"] for n in (item["key"], *item["other_names"])}
    assert data["total"] == len(data["items"]) == len(by_key)
    checked = 0
    for row in report["rows"]:
        item = names[row["key"]]
        got = cell(item, row["platform"])
        if row["state"] in ("ready", "rejected"):
            assert got is not None and got["state"] == row["state"], (row, got)
            assert got["remote_id"] == row["remote_id"]
            assert got["run_id"] == "ui-1" and got["run_url"] == "/dags/creative_sync/runs/ui-1"
            checked += 1
        elif row["state"] == "refused" and row["key"] == item["key"]:
            assert got is not None and got["state"] == "refused", (row, got)
            assert got["reason"] and row["key"] in got["reason"]
            checked += 1
    assert checked > 40
    banner = by_key[f"banners/{REJECTED_NAME}"]
    assert (banner["type"], banner["kind"], banner["width"], banner["height"]) == ("JPEG", "image", 1200, 628)
    assert banner["size"] == (synced_ledger.folder / "banners" / REJECTED_NAME).stat().st_size
    assert banner["first_seen"] and banner["first_seen"] <= time.time()
    rejected = cell(banner, "topsort")
    assert rejected["state"] == "rejected" and rejected["reason"]
    teaser = by_key["video/product_teaser_640x360.mp4"]
    assert teaser["kind"] == "video" and teaser["duration"] and teaser["duration"] > 1
    # the same content under two names is one creative, sent once
    copy = names["social/new_arrivals_1080x1080.png"]
    assert set(copy["other_names"]) | {copy["key"]} == {
        "archive/new_arrivals_copy.png",
        "social/new_arrivals_1080x1080.png",
    }
    # no platform link is invented: no hook of the provider documents one today
    assert all(c.get("url") is None for item in data["items"] for c in item["cells"].values() if c)


def test_filters_by_state_and_platform(client: TestClient) -> None:
    rejected = assets(client, state="rejected")
    assert [i["file_name"] for i in rejected["items"]] == [REJECTED_NAME] and rejected["total"] == 1
    on_topsort = assets(client, state="rejected", platform="topsort")
    assert on_topsort["total"] == 1 and [c["platform"] for c in on_topsort["columns"]] == ["topsort"]
    assert list(on_topsort["items"][0]["cells"]) == [on_topsort["columns"][0]["key"]]
    assert assets(client, state="rejected", platform="amazon_ads")["total"] == 0
    ready_both = assets(client, state="ready", platform=["topsort", "mediamath"])
    assert ready_both["total"] > 0
    for item in ready_both["items"]:
        assert any(c and c["state"] == "ready" for c in item["cells"].values())
    assert client.get("/api/assets", params={"state": "bogus"}).status_code == 422
    assert client.get("/api/assets", params={"platform": "myspace"}).status_code == 422


def test_search_by_file_name(client: TestClient) -> None:
    found = assets(client, q="SUMMER")
    assert sorted(i["file_name"] for i in found["items"]) == ["summer#sale.png", REJECTED_NAME]
    assert [i["key"] for i in assets(client, q="logos/")["items"]] == [
        "logos/app_icon_100x100.png",
        "logos/sunline_logo_600x600.png",
    ]
    # LIKE wildcards are literal
    assert [i["file_name"] for i in assets(client, q="%")["items"]] == ["rentrée — 30% off.png"]
    assert assets(client, q="_")["total"] > 0  # names with an underscore


def test_pagination(client: TestClient) -> None:
    everything = [i["sha256"] for i in assets(client, limit=500)["items"]]
    pages = [assets(client, limit=4, offset=offset) for offset in range(0, len(everything), 4)]
    assert [s for p in pages for s in (i["sha256"] for i in p["items"])] == everything
    assert all(p["total"] == len(everything) for p in pages)
    assert client.get("/api/assets", params={"limit": 100_000}).status_code == 422


def test_ten_thousand_creatives_are_paged_by_the_database(tmp_path: Path, auth_headers: dict[str, str]) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    ledger = Ledger(url)
    now = time.time()
    n = 12_000
    with ledger.begin() as conn:
        conn.execute(
            insert(files_table),
            [
                {
                    "source": "/creatives",
                    "file_key": f"batch/{i:05d}.png",
                    "size": 1000 + i,
                    "mtime": now,
                    "sha256": f"{i:064x}",
                    "facts": {"mimetype": "image/png", "width": 300, "height": 250},
                    "updated_at": now - i,
                }
                for i in range(n)
            ],
        )
        conn.execute(
            insert(assets_table),
            [
                {
                    "sha256": f"{i:064x}",
                    "platform": "topsort",
                    "account": "v1",
                    "remote_id": f"asset-{i}",
                    "state": "rejected" if i % 1000 == 7 else "ready",
                    "reason": "policy" if i % 1000 == 7 else None,
                    "attempts": 1,
                    "file_key": f"batch/{i:05d}.png",
                    "created_at": now - i,
                    "updated_at": now,
                    "last_run_id": "big-1",
                }
                for i in range(n)
            ],
        )
    statements: list[str] = []
    event.listen(ledger.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client = TestClient(create_app(url), headers=auth_headers)
    started = time.monotonic()
    page = client.get("/api/assets", params={"offset": 11_950, "limit": 100}).json()
    elapsed = time.monotonic() - started
    assert page["total"] == n and len(page["items"]) == 50
    assert page["items"][0]["key"] == "batch/11950.png" and page["items"][-1]["key"] == "batch/11999.png"
    assert any("LIMIT" in s and "OFFSET" in s for s in statements)
    assert elapsed < 5, elapsed
    rejected = client.get("/api/assets", params={"state": "rejected", "limit": 5, "offset": 10}).json()
    assert rejected["total"] == 12
    assert [i["key"] for i in rejected["items"]] == ["batch/10007.png", "batch/11007.png"]
    html = client.get("/", params={"page": 240}).text
    assert "Showing 11,951–12,000 of 12,000" in html


# ----------------------------------------------------------------------------- runs
def test_run_history_counts_per_platform(client: TestClient, synced_ledger: SyncedLedger) -> None:
    data = client.get("/api/runs").json()
    assert [r["run_id"] for r in data["items"]] == ["ui-5", "ui-4", "ui-3", "ui-2", "ui-1"] and data["total"] == 5
    first, second = data["items"][4], data["items"][3]
    report = synced_ledger.reports["ui-1"]
    assert first["outcome"] == "failed" and second["outcome"] == "success"
    assert first["bytes_sent"] == report["bytes_sent"] > 0 and second["bytes_sent"] == 0
    assert first["run_url"] == "/dags/creative_sync/runs/ui-1"
    for platform, counts in report["counts"].items():
        got = first["platforms"][platform]
        assert got["ready"] == counts.get("ready", 0)
        assert got["rejected"] == counts.get("rejected", 0)
        assert got["refused"] == counts.get("refused", 0)
        uploads = sum(1 for r in report["rows"] if r["platform"] == platform and r["action"] == "upload")
        assert got["sent"] == uploads
        assert second["platforms"][platform]["sent"] == 0
        assert second["platforms"][platform]["unchanged"] == uploads + 1  # + the alias
    assert first["platforms"]["topsort"]["rejected"] == 1
    assert sum(p["bytes_sent"] for p in first["platforms"].values()) == report["bytes_sent"]
    assert any(REJECTED_NAME in f for f in first["failures"])
    paged = client.get("/api/runs", params={"limit": 1, "offset": 4}).json()
    assert [r["run_id"] for r in paged["items"]] == ["ui-1"]


# ----------------------------------------------------------------------------- pages
def test_pages_render_the_matrix_and_history(client: TestClient) -> None:
    page = client.get("/", params={"state": "rejected"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert REJECTED_NAME in html and "sunline_logo" not in html
    assert 'class="badge s-rejected"' in html
    assert 'href="/dags/creative_sync/runs/ui-1"' in html
    assert '<option value="rejected" selected>' in html
    assert '<option value="not_submitted" >' in html  # MediaMath's approval left at "N/A" too long
    assert client.get("/api/assets", params={"state": "not_submitted"}).status_code == 200
    full = client.get("/").text
    assert full.count('<tr data-sha256="') == assets(client)["total"]
    for label in ("Topsort", "Amazon Ads", "MediaMath", "MediaPocket", "Delta Projects"):
        assert f">{label}<" in full
    runs = client.get("/runs").text
    assert 'data-run-id="ui-1"' in runs and 'data-run-id="ui-2"' in runs


def test_thumbnails_are_made_once_and_cached(client: TestClient) -> None:
    data = {i["key"]: i for i in assets(client, limit=500)["items"]}
    image = data["logos/sunline_logo_600x600.png"]
    shot = client.get(image["thumbnail_url"].removeprefix("/creative-sync"))
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/webp"
    cached = thumbnails.cached_path(image["sha256"])
    assert cached.is_file() and str(cached).startswith(os.environ["AIRFLOW_HOME"])
    from PIL import Image

    with Image.open(cached) as thumb:
        assert max(thumb.size) == thumbnails.THUMBNAIL_SIZE
    stamp = cached.stat().st_mtime_ns
    assert client.get(image["thumbnail_url"].removeprefix("/creative-sync")).content == shot.content
    assert cached.stat().st_mtime_ns == stamp

    video = client.get(data["video/product_teaser_640x360.mp4"]["thumbnail_url"].removeprefix("/creative-sync"))
    assert video.headers["content-type"] == "image/webp"  # a poster frame
    broken = client.get(data["bad/truncated_banner.jpg"]["thumbnail_url"].removeprefix("/creative-sync"))
    assert broken.headers["content-type"] == "image/svg+xml"
    other = client.get(data["bad/campaign_brief.txt"]["thumbnail_url"].removeprefix("/creative-sync"))
    assert other.headers["content-type"] == "image/svg+xml"
    assert client.get("/thumbnails/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/thumbnails/" + "0" * 64).headers["content-type"] == "image/svg+xml"


def test_platform_links_only_where_the_hook_gives_one(
    client: TestClient, synced_ledger: SyncedLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_creative_provider.hooks.topsort import TopsortHook

    for name, value in synced_ledger.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(TopsortHook, "asset_url", lambda self, remote_id: f"https://ui.example/assets/{remote_id}")
    item = assets(client, q="sunline")["items"][0]
    topsort = cell(item, "topsort")
    assert topsort["url"] == f"https://ui.example/assets/{topsort['remote_id']}"
    assert all(c["url"] is None for k, c in item["cells"].items() if not k.startswith("topsort:"))
    assert f'href="https://ui.example/assets/{topsort["remote_id"]}"' in client.get("/", params={"q": "sunline"}).text


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert {"/api/assets", "/api/runs"} <= set(spec["paths"])
    params = {p["name"] for p in spec["paths"]["/api/assets"]["get"]["parameters"]}
    assert {"platform", "state", "q", "offset", "limit", "sort"} <= params
    assert spec["servers"] == [{"url": "/creative-sync"}]
    assert "Asset" in spec["components"]["schemas"] and "Run" in spec["components"]["schemas"]
    assert "/" not in spec["paths"]  # pages are not API
    assert "swagger" in client.get("/api/docs").text.lower()


def test_no_secret_on_the_page_or_in_the_api(client: TestClient, synced_ledger: SyncedLedger) -> None:
    secrets = []
    for value in synced_ledger.env.values():
        conn = json.loads(value)
        extra = conn.get("extra") or {}
        secrets += [conn.get("password"), *(v for k, v in extra.items() if "secret" in k or "token" in k)]
    secrets = [s for s in secrets if isinstance(s, str) and len(s) >= 6]
    assert secrets
    bodies = [
        client.get(path).text for path in ("/", "/runs", "/api/assets?limit=500", "/api/runs", "/api/openapi.json")
    ]
    for body in bodies:
        for secret in secrets:
            assert secret not in body
        assert not re.search(r"X-Amz-Signature|Signature=", body)


# ----------------------------------------------------------------------------- access
@pytest.mark.parametrize(
    "path",
    ["/", "/runs", "/api/assets", "/api/runs", "/api/openapi.json", "/api/docs", "/thumbnails/" + "a" * 64],
)
def test_every_route_refuses_requests_without_credentials(
    synced_ledger: SyncedLedger, auth_manager: Any, path: str
) -> None:
    anonymous = TestClient(create_app(synced_ledger.url))
    response = anonymous.get(path, follow_redirects=False)
    assert response.status_code == 401, response.text
    assert synced_ledger.folder.name not in response.text
    forged = anonymous.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 403
    cookie = anonymous.get(path, cookies={"_token": "forged"})
    assert cookie.status_code == 403


def test_a_browser_without_a_session_is_sent_to_the_login(synced_ledger: SyncedLedger, auth_manager: Any) -> None:
    anonymous = TestClient(create_app(synced_ledger.url), root_path="/creative-sync")
    response = anonymous.get("/", params={"state": "rejected"}, headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 307
    assert "/auth/" in response.headers["location"] and "next=" in response.headers["location"]
    api = anonymous.get("/api/assets", headers={"Accept": "text/html"}, follow_redirects=False)
    assert api.status_code == 401


# ----------------------------------------------------------------------------- plugin
def test_plugin_is_registered_with_airflow() -> None:
    from airflow import plugins_manager
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    from airflow_creative_provider.plugin import CreativeSyncPlugin

    plugins, errors = plugins_manager._get_plugins()
    assert not {k: v for k, v in errors.items() if "creative" in str(k)}
    assert any(isinstance(p, CreativeSyncPlugin) or p.name == "creative_sync" for p in plugins)
    apps, _ = plugins_manager.get_fastapi_plugins()
    (ours,) = [a for a in apps if a["url_prefix"] == "/creative-sync"]
    assert ours["app"]._app is None  # loading plugins (as every task process does) builds nothing
    assert {r.path for r in ours["app"].app.routes} >= {"/", "/runs", "/api/assets", "/api/runs"}
    views, _ = plugins_manager._get_ui_plugins()
    (view,) = [v for v in views if v.get("url_route") == "creatives"]
    model = ExternalViewResponse(**view)
    assert model.name == "Creatives" and model.destination == "nav" and not model.href.startswith("/")


# ----------------------------------------------------------------------------- one run, one creative
def test_run_filter_lists_what_a_run_sent_or_changed(client: TestClient, synced_ledger: SyncedLedger) -> None:
    everything = assets(client, limit=500)
    of_first = assets(client, run="ui-1", limit=500)
    sent = {row["key"] for row in synced_ledger.reports["ui-1"]["rows"] if row.get("remote_id")}
    names = {n for item in of_first["items"] for n in (item["key"], *item["other_names"])}
    assert sent and sent <= names
    # only creatives with a record of that run: refused-only files are not in it
    assert 0 < of_first["total"] < everything["total"]
    assert all(any(c and c.get("run_id") == "ui-1" for c in i["cells"].values()) for i in of_first["items"])
    assert assets(client, run="no-such-run")["total"] == 0
    html = client.get("/", params={"run": "ui-1"}).text
    assert "sent or changed by run" in html and 'href="/dags/creative_sync/runs/ui-1"' in html


def test_every_remote_id_links_to_the_run_that_sent_it(client: TestClient) -> None:
    cells = [c for i in assets(client, limit=500)["items"] for c in i["cells"].values() if c and c["remote_id"]]
    assert len(cells) > 20
    assert all(c["sent_run_id"] == "ui-1" and c["sent_run_url"] == "/dags/creative_sync/runs/ui-1" for c in cells)


def test_creative_detail_gives_each_platform_history(client: TestClient, synced_ledger: SyncedLedger) -> None:
    (banner,) = assets(client, q=REJECTED_NAME)["items"]
    assert banner["detail_url"] == f"/creative-sync/creatives/{banner['sha256']}"
    response = client.get(f"/api/assets/{banner['sha256']}")
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["asset"]["key"] == f"banners/{REJECTED_NAME}"
    topsort = [e for e in detail["history"] if e["platform"] == "topsort"]
    assert [e["event"] for e in topsort] == ["intent", "sent", "status"]
    assert [e["state"] for e in topsort] == ["sending", "processing", "rejected"]
    assert topsort[1]["remote_id"] == cell(banner, "topsort")["remote_id"] and topsort[2]["reason"]
    assert {e["run_id"] for e in detail["history"]} == {"ui-1"}
    assert {e["platform"] for e in detail["history"]} == set(PLATFORMS)
    amazon = [e for e in detail["history"] if e["platform"] == "amazon_ads" and e["event"] == "sent"]
    assert amazon and amazon[0]["version"]  # Amazon versions its assets
    page = client.get(f"/creatives/{banner['sha256']}").text
    assert "Topsort" in page and topsort[1]["remote_id"] in page and 'data-event="status"' in page
    assert client.get("/api/assets/" + "0" * 64).status_code == 404
    assert client.get("/api/assets/not-a-sha").status_code == 404


def test_creative_detail_shows_the_metadata_each_platform_was_given(client: TestClient) -> None:
    """The example folder's creatives.yaml: what the sync sent beside the banner, per platform account."""
    (banner,) = assets(client, q=REJECTED_NAME)["items"]
    detail = client.get(f"/api/assets/{banner['sha256']}").json()
    sent = {m["platform"]: m for m in detail["metadata"].values()}
    assert set(sent) == set(PLATFORMS)
    assert sent["mediapocket"]["fields"] == {
        "title": REJECTED_NAME,
        "description": "Summer sale banners for the home page",
        "category": "banners",
        "tags": ["summer-2026", "banner"],
    }
    assert sent["mediamath"]["fields"] == {
        "creative_name": REJECTED_NAME,
        "start_date": "2026-06-01T00:00:00",
        "end_date": "2026-08-31T23:59:59",
    }
    assert sent["topsort"]["fields"]["metadata"] == {"campaign": "summer-sale"}
    assert (
        sent["mediamath"]["run_id"] == "ui-1"
        and sent["mediamath"]["remote_id"] == cell(banner, "mediamath")["remote_id"]
    )
    page = client.get(f"/creatives/{banner['sha256']}").text
    assert page.count("data-metadata") == len(PLATFORMS)
    assert "Summer sale banners for the home page" in page and "campaign=summer-sale" in page


def test_tasks_of_the_sync_dag_link_to_the_creatives_of_their_run() -> None:
    from airflow import plugins_manager
    from airflow.models.taskinstancekey import TaskInstanceKey

    from airflow_creative_provider.links import CreativesOfRunLink

    (link,) = [g for g in plugins_manager.get_global_operator_extra_links() if isinstance(g, CreativesOfRunLink)]
    run = "scheduled__2026-01-01T00:00:00+00:00"
    for task_id, expected in (("report", True), ("submit", True), ("wait", True), ("plan", False)):
        url = link.get_link(None, ti_key=TaskInstanceKey("creative_sync", task_id, run, 1))  # type: ignore[arg-type]
        query = "?run=scheduled__2026-01-01T00%3A00%3A00%2B00%3A00"
        assert url == (f"/plugin/creatives/creative-sync/{query}" if expected else "")
    assert link.get_link(None, ti_key=TaskInstanceKey("other_dag", "report", run, 1)) == ""  # type: ignore[arg-type]


def test_a_refusal_stays_until_a_plan_of_its_file_and_platform_decides_again(tmp_path: Path) -> None:
    from airflow_creative_provider.sync.source import IndexEntry
    from airflow_creative_provider.ui.queries import AssetFilter, list_assets

    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    sha = "a" * 64
    entry = IndexEntry(10, 1.0, sha, {"mimetype": "text/plain"})
    ledger.update_file_index("/src", {"brief.txt": entry}, complete=True, previous={})
    refusal = {"file_key": "brief.txt", "sha256": sha, "rule": "type", "reason": "brief.txt: not an image (type)"}
    ledger.replace_refusals(
        "/src",
        ["brief.txt"],
        [("topsort", "t1"), ("delta_projects", "d1")],
        [
            {**refusal, "platform": "topsort", "account": "t1"},
            {**refusal, "platform": "delta_projects", "account": "d1"},
        ],
    )

    def refused_on(platform: str) -> int:
        return list_assets(ledger, AssetFilter(platforms=(platform,), state="refused")).total

    assert refused_on("topsort") == refused_on("delta_projects") == 1
    # a later run of Delta Projects alone does not forget Topsort's refusal
    ledger.replace_refusals("/src", ["brief.txt"], [("delta_projects", "d1")], [])
    assert (refused_on("topsort"), refused_on("delta_projects")) == (1, 0)
    # a file gone from the source (or changed) is refused no more
    ledger.update_file_index("/src", {}, complete=True, previous={"brief.txt": entry}, present=[])
    assert refused_on("topsort") == 0
