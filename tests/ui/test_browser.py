"""The Creatives page in a real browser: the Airflow api-server with the plugin, headless Chromium.

One api-server for the module (startup ~35 s) over the ledger of a real sandbox sync
(``synced_ledger``). A user logs in through Airflow's own login form (SimpleAuthManager, a
user and password file), finds "Creatives" in the navigation, sees each platform's state,
filters by "rejected" and follows a run link into Airflow. Screenshots go to
``test-artifacts/``. Skipped only when Debian's ``chromium`` (``/usr/bin/chromium``) is absent.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import REJECTED_NAME, REPO, SyncedLedger

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
USER, PASSWORD = "analyst", "creatives-are-great"
PLATFORM_LABELS = ("Topsort", "Amazon Ads", "MediaMath", "MediaPocket", "Delta Projects")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serialized_dags(airflow_db: Path) -> Path:
    """The DAGs of ``dags/`` serialized into the test metadata database (the trigger form, task links)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "reserialize"], env=os.environ.copy(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return airflow_db


@pytest.fixture(scope="module")
def api_server(
    serialized_dags: Path, synced_ledger: SyncedLedger, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``airflow api-server`` with the provider's plugin, the test home and the synced ledger."""
    home = Path(os.environ["AIRFLOW_HOME"])
    work = tmp_path_factory.mktemp("api-server")
    passwords = work / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ledger_db = synced_ledger.url.removeprefix("sqlite:///")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__BASE_URL": base + "/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "AIRFLOW_CONN_CREATIVE_LEDGER": json.dumps({"conn_type": "sqlite", "host": ledger_db}),
    }
    log = (work / "api-server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"api-server did not start:\n{(work / 'api-server.log').read_text()[-4000:]}")
                time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def page(browser: Any, api_server: str) -> Iterator[Any]:
    """A logged-in page: the user signs in through Airflow's login form."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, base_url=api_server)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto("/creative-sync/")  # not logged in: sent to Airflow's login, then back
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/creative-sync/**")
    yield page
    context.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=False)
    return path


def test_anonymous_requests_are_refused(api_server: str) -> None:
    for path in ("/creative-sync/api/assets", "/creative-sync/api/runs"):
        with pytest.raises(urllib.request.HTTPError) as refused:
            urllib.request.urlopen(api_server + path, timeout=10)
        assert refused.value.code == 401


def test_login_then_the_matrix_shows_each_platform_state(page: Any) -> None:
    matrix = page.locator("#matrix")
    matrix.wait_for()
    headers = matrix.locator("thead th").all_inner_texts()
    for label in ("Topsort", "Amazon Ads", "MediaMath", "MediaPocket", "Delta Projects"):
        assert any(h.startswith(label) for h in headers), headers
    row = matrix.locator("tbody tr", has_text="sunline_logo_600x600.png")
    for platform in ("topsort", "amazon_ads", "mediamath", "mediapocket", "delta_projects"):
        assert row.locator(f'td[data-platform="{platform}"] .badge').inner_text() == "ready"
    banner = matrix.locator("tbody tr", has_text=REJECTED_NAME)
    assert banner.locator('td[data-platform="topsort"] .badge').inner_text() == "rejected"
    thumbs = matrix.locator("img.thumb")
    for index in range(thumbs.count()):  # thumbnails load lazily: bring each into view
        thumbs.nth(index).scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert thumbs.count() == matrix.locator("tbody tr").count()
    shot(page, "creatives-page-standalone.png")


def test_the_page_is_in_airflow_navigation_filter_rejected_and_follow_a_run_link(page: Any) -> None:
    page.goto("/plugin/creatives")
    nav = page.get_by_role("link", name="Creatives")
    nav.first.wait_for()
    frame = page.frame_locator("iframe[title='Creatives']")
    frame.locator("#matrix").wait_for()
    shot(page, "creatives-page.png")

    frame.get_by_label("State").select_option("rejected")
    frame.get_by_role("button", name="Apply").click()
    frame.locator("#summary", has_text="1 creative").wait_for()
    rows = frame.locator("#matrix tbody tr")
    assert rows.count() == 1 and REJECTED_NAME in rows.first.inner_text()
    assert "state=rejected" in page.url  # the UI keeps the page's address (deep link)
    rejected = rows.first.locator('td[data-platform="topsort"]')
    assert rejected.locator(".badge").inner_text() == "rejected"
    assert rejected.locator(".reason").inner_text()
    shot(page, "creatives-page-rejected.png")

    rejected.locator("a.run-link").click()
    page.wait_for_url("**/dags/creative_sync/runs/ui-1")
    assert page.url.endswith("/dags/creative_sync/runs/ui-1")
    page.wait_for_load_state("networkidle")
    shot(page, "creatives-run-link.png")


def test_run_history_page(page: Any) -> None:
    page.goto("/creative-sync/runs")
    table = page.locator("#runs")
    table.wait_for()
    first = table.locator('tr[data-run-id="ui-1"]')
    assert first.locator('td[data-platform="topsort"] [data-count="rejected"] b').inner_text() == "1"
    assert int(first.locator('td[data-platform="topsort"] [data-count="sent"] b').inner_text()) > 0
    shot(page, "creatives-runs.png")
    first.locator("a.creatives-of-run").click()  # the Creatives page filtered to that run
    page.wait_for_url("**/creative-sync/?run=ui-1")
    assert "sent or changed by run ui-1" in page.locator("#summary").inner_text()


def laptop_page(browser: Any, page: Any, api_server: str) -> Any:
    """A page of the logged-in user's session in a 1440 x 900 window (a laptop)."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, base_url=api_server, storage_state=page.context.storage_state()
    )
    laptop = context.new_page()
    laptop.set_default_timeout(30_000)
    return laptop


MATRIX_OVERFLOW = """() => {  // horizontal overflow of the Creatives page, in px
  const wrap = document.querySelector('.table-wrap');
  const root = document.documentElement;
  const heads = [...document.querySelectorAll('#matrix th[data-platform]')];
  return {columns: heads.length, width: root.clientWidth,
          right: Math.max(...heads.map(th => th.getBoundingClientRect().right)),
          wrap: wrap.scrollWidth - wrap.clientWidth, page: root.scrollWidth - root.clientWidth};
}"""


def test_the_creatives_page_fits_a_1440_px_laptop(browser: Any, page: Any, api_server: str) -> None:
    laptop = laptop_page(browser, page, api_server)
    try:
        laptop.goto("/creative-sync/")  # on its own
        laptop.locator("#matrix").wait_for()
        alone = laptop.evaluate(MATRIX_OVERFLOW)
        laptop.goto("/plugin/creatives")  # inside Airflow, next to its navigation
        frame = laptop.frame_locator("iframe[title='Creatives']")
        frame.locator("#matrix").wait_for()
        framed = frame.locator("#matrix").evaluate(MATRIX_OVERFLOW)
        for where, got in (("alone", alone), ("in Airflow", framed)):
            assert got["columns"] == 5, (where, got)
            assert got["wrap"] <= 0 and got["page"] <= 0, (where, got)  # no horizontal scrolling
            assert got["right"] <= got["width"], (where, got)  # the last platform column is in view
        shot(laptop, "creatives-page-1440.png")
    finally:
        laptop.context.close()


def test_the_api_docs_page_loads_nothing_from_outside(page: Any, api_server: str) -> None:
    requested: list[str] = []

    def record(request: Any) -> None:
        requested.append(request.url)

    page.on("request", record)
    try:
        page.goto("/creative-sync/api/docs")
        page.locator(".swagger-ui .info .title", has_text="Creative sync").wait_for()
        page.locator(".swagger-ui .opblock", has_text="/api/assets").first.wait_for()
    finally:
        page.remove_listener("request", record)
    outside = [url for url in requested if not url.startswith((api_server, "data:"))]
    assert len(requested) >= 3 and not outside, outside


def open_trigger_form(page: Any) -> Any:
    page.goto("/dags/creative_sync")
    page.get_by_role("button", name=re.compile("^Trigger")).first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#element_source").wait_for()
    return dialog


def test_the_trigger_form_names_platforms_hides_rare_params_and_says_its_rules(page: Any) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    dialog = open_trigger_form(page)
    platforms = dialog.locator("#element_platforms")
    chosen = platforms.locator("[aria-label^='Remove ']").evaluate_all("els => els.map(e => e.ariaLabel)")
    assert chosen == [f"Remove {name}" for name in PLATFORM_LABELS]
    assert "amazon_ads" not in platforms.inner_text()
    # the everyday params are in view; the rarely used ones wait in "Advanced"
    for name in ("source", "platforms", "include", "dry_run"):
        assert dialog.locator(f"[name='element_{name}'], #element_{name}").first.is_visible(), name
    assert not dialog.locator("[name='element_batch_size']").is_visible()
    shot(page, "trigger-form.png")
    dialog.get_by_role("button", name="Advanced", exact=True).click()
    batch = dialog.locator("[name='element_batch_size']")
    batch.wait_for()
    for name in ("wait_for_ready", "batch_size", "strict", "max_archive", "require_approval_above", "min_age_seconds"):
        assert dialog.locator(f"[name='element_{name}'], #element_{name}").first.is_visible(), name
    # the form raises 0 to 1 on its own: the field says so
    batch.fill("0")
    batch.blur()
    assert batch.input_value() == "1"
    assert "the form raises a smaller number to 1" in dialog.inner_text()
    shot(page, "trigger-form-advanced.png")
    # with no platform picked the form cannot be triggered: the field says so
    dialog.get_by_role("button", name="Run Parameters").click()
    for name in PLATFORM_LABELS:
        platforms.locator(f"[aria-label='Remove {name}']").click()
    trigger = dialog.get_by_role("button", name=re.compile("^Trigger$"))
    expect(trigger).to_be_disabled()
    assert "Pick at least one: with none picked the form cannot be triggered." in dialog.inner_text()
    shot(page, "trigger-form-no-platform.png")


def test_report_and_submit_tasks_link_to_the_creatives_of_their_run(page: Any) -> None:
    run_id = "manual__links-1"  # a queued run (the DAG is paused; no scheduler): its task instances exist
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "trigger", "creative_sync", "--run-id", run_id],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    quoted = urllib.parse.quote(run_id, safe="")
    for task in ("submit", "report", "plan"):
        links = page.request.get(f"/api/v2/dags/creative_sync/dagRuns/{quoted}/taskInstances/{task}/links")
        assert links.ok, links.text()
        url = links.json()["extra_links"].get("Creatives of this run")
        assert url == (None if task == "plan" else f"/plugin/creatives/creative-sync/?run={quoted}"), (task, url)
    page.goto(f"/dags/creative_sync/runs/{quoted}/tasks/report/details")
    link = page.get_by_role("link", name="Creatives of this run")
    link.wait_for()
    shot(page, "report-task-extra-link.png")
    assert link.get_attribute("href") == f"/plugin/creatives/creative-sync/?run={quoted}"
    link.click()  # the Creatives page, inside the Airflow UI, filtered to that run
    page.wait_for_url(f"**/plugin/creatives/creative-sync/?run={quoted}")
    frame = page.frame_locator("iframe[title='Creatives']")
    assert f"sent or changed by run {run_id}" in frame.locator("#summary").inner_text()


def test_a_creative_page_shows_each_platform_history_and_remote_ids_link_to_the_sending_run(page: Any) -> None:
    page.goto("/creative-sync/?q=" + REJECTED_NAME)
    row = page.locator("#matrix tbody tr", has_text=REJECTED_NAME)
    sent_by = row.locator('td[data-platform="mediamath"] a.sent-by')
    assert sent_by.get_attribute("href") == "/dags/creative_sync/runs/ui-1"
    row.get_by_role("link", name=REJECTED_NAME).click()
    page.wait_for_url("**/creative-sync/creatives/*")
    topsort = page.locator('section.platform[data-platform="topsort"]')
    assert topsort.locator(".now .badge").inner_text() == "rejected"
    events = topsort.locator("table.history tbody tr")
    # newest first: rejected (polled, with the reason) <- sent (remote id) <- sending
    assert [events.nth(i).get_attribute("data-event") for i in range(events.count())] == ["status", "sent", "intent"]
    reason = topsort.locator(".now .reason").inner_text()
    assert "rejected" in reason and reason in events.first.inner_text()
    remote_id = events.nth(1).locator("td").nth(3).inner_text()
    assert remote_id and remote_id in topsort.locator(".now").inner_text()
    for platform in ("amazon_ads", "mediamath", "mediapocket", "delta_projects"):
        assert page.locator(f'section.platform[data-platform="{platform}"] .now .badge').inner_text() == "ready"
    shot(page, "creative-detail.png")
    topsort.locator(".now a.sent-by").click()
    page.wait_for_url("**/dags/creative_sync/runs/ui-1")


def test_the_refused_filter_finds_every_refusal_per_name_after_a_narrow_include_run(page: Any) -> None:
    page.goto("/creative-sync/?per_page=500")
    matrix = page.locator("#matrix")
    matrix.wait_for()
    # ui-3 synced only logos/**: every other file is still in the source, still ready where it was sent
    assert page.locator(".tag", has_text="no longer in the source").count() == 0
    arrivals = matrix.locator("tbody tr", has_text="new_arrivals_1080x1080.png")
    assert arrivals.locator('td[data-platform="delta_projects"] .badge').inner_text() == "ready"
    brief = matrix.locator("tbody tr", has_text="campaign_brief.txt")
    assert brief.count() == 1  # refused everywhere, never sent: still listed

    page.get_by_label("State").select_option("refused")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**state=refused**")
    summary = page.locator("#summary").inner_text()
    shown = int(re.search(r"([\d,]+) creatives? match", summary).group(1).replace(",", ""))
    api = page.request.get("/creative-sync/api/assets?state=refused&limit=500").json()
    assert shown == api["total"] > 0
    keys = {n for item in api["items"] for n in (item["key"], *item["other_names"])}
    assert {"bad/campaign_brief.txt", "bad/text_named_as.jpg", "bad/media_kit.pdf"} <= keys
    # the same content under two names: each name's own refusal is shown
    brief = page.locator("#matrix tbody tr", has_text="campaign_brief.txt")
    cell = brief.locator('td[data-platform="topsort"]')
    assert cell.locator(".badge").inner_text() == "refused"
    names = cell.locator(".refused-name").all_inner_texts()
    assert any("bad/campaign_brief.txt" in n for n in names) and any("bad/text_named_as.jpg" in n for n in names)
    shot(page, "creatives-refused.png")


def test_the_sync_runs_tab_shows_a_run_that_matched_nothing_and_one_that_could_not_start(page: Any) -> None:
    page.goto("/creative-sync/runs")
    table = page.locator("#runs")
    table.wait_for()
    nothing = table.locator('tr[data-run-id="ui-4"]')
    assert "0 of " in nothing.locator(".warning").inner_text()
    assert "match include 'nothing/**'" in nothing.locator(".warning").inner_text()
    failed = table.locator('tr[data-run-id="ui-5"]')
    assert failed.locator(".outcome").inner_text() == "failed"
    assert "does not exist" in failed.locator(".failures").inner_text()
    shot(page, "creatives-runs-warnings.png")
