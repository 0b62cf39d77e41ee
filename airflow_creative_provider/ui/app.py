"""The Creatives page and its JSON API: a FastAPI app the plugin mounts under ``/creative-sync``.

Routes (every one depends on Airflow's ``requires_authenticated()``: a request without a
session cookie or bearer token the api-server accepts gets 401, and a browser asking for
a page is sent to Airflow's login first):

* ``/`` - the ledger as a matrix: one row per creative, one column per platform account;
* ``/creatives/{sha256}`` - one creative: each platform's state, remote ids, versions, reasons
  and their history (the ledger's ``creative_asset_history``);
* ``/?run=<run id>`` - the creatives one run sent or changed (the tasks' "Creatives of this run" link);
* ``/runs`` - the history of ``creative_sync`` runs: counts per platform and bytes sent;
* ``/thumbnails/{sha256}`` - a thumbnail (made on first view, cached) or a type icon;
* ``/api/assets``, ``/api/assets/{sha256}``, ``/api/runs`` - the same data as JSON, documented at ``/api/docs``
  (OpenAPI at ``/api/openapi.json``).

Nothing secret is shown: ids, names, states, reasons and counts only. Platform links come
from the platform hook's ``asset_url()`` (only where the vendor documents a URL).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import HTTPException as FastAPIHTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.sync.ledger import Ledger
from airflow_creative_provider.sync.params import platform_of
from airflow_creative_provider.ui import queries, thumbnails
from airflow_creative_provider.ui.queries import STATES, AssetFilter

log = logging.getLogger(__name__)

URL_PREFIX = "/creative-sync"
DAG_ID = "creative_sync"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: the Swagger UI files the API docs page loads, served from the installed package (no CDN).
SWAGGER_UI_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def swagger_ui_static() -> Path:
    """The folder of Swagger UI's files in the ``swagger-ui-py`` distribution (found, not imported)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise HTTPException(404, "Swagger UI is not installed (pip install swagger-ui-py)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


# ---------------------------------------------------------------------------- API models
class RefusedName(BaseModel):
    """One file name the platform's local rules refuse."""

    key: str
    reason: str | None = None
    rule: str | None = None


class Cell(BaseModel):
    """What one creative is on one platform account."""

    platform: str
    account: str
    state: str = Field(
        description="sending | pending | processing | ready | rejected | not_submitted | refused | failed | archived"
    )
    raw_state: str | None = Field(None, description="the platform's own state")
    remote_id: str | None = None
    version: str | None = None
    reason: str | None = Field(None, description="why it was rejected, refused or failed")
    url: str | None = Field(None, description="the asset in the platform's UI, where the platform documents one")
    updated_at: float | None = Field(None, description="last change (epoch seconds)")
    run_id: str | None = Field(None, description="the creative_sync run that last changed it")
    run_url: str | None = Field(None, description="that run in the Airflow UI")
    sent_run_id: str | None = Field(None, description="the creative_sync run that sent the current remote id")
    sent_run_url: str | None = Field(None, description="that run in the Airflow UI")
    local: bool = Field(
        False, description="true: no ledger record; the platform's rules refuse the file, so it is never sent"
    )
    rule: str | None = Field(None, description="the refusing rule (local refusals)")
    drift: dict[str, Any] | None = Field(
        None,
        description="what the last creative_check found differing: kind (missing | state_changed | "
        "content_differs | unknown | metadata_changed), detail, checked_at, run_id",
    )
    refused_names: list[RefusedName] = Field(
        default_factory=list,
        description="each file name of this content the platform's rules refuse, with its reason (a verdict can "
        "depend on the name: its extension, its characters)",
    )


class PlatformColumn(BaseModel):
    """A column of the matrix: one platform account."""

    key: str = Field(description="platform:account, the key of ``cells``")
    platform: str
    account: str
    label: str
    assets: int


class Asset(BaseModel):
    """One creative (a content, by sha256) and its state on every platform account."""

    sha256: str
    key: str = Field(description="the file's key in its source")
    file_name: str
    other_names: list[str] = Field(description="other keys holding the same content (sent once)")
    in_source: bool = Field(description="false once the file left the source")
    type: str
    kind: str = Field(description="image | video | other")
    mimetype: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = Field(None, description="seconds (videos)")
    error: str | None = Field(None, description="why the file cannot be decoded")
    first_seen: float | None = None
    last_change: float | None = None
    thumbnail_url: str
    detail_url: str = Field(description="the creative's page: every platform's state history")
    cells: dict[str, Cell | None] = Field(description="platform:account -> cell (null: never sent there)")


class AssetList(BaseModel):
    """One page of the matrix."""

    total: int
    offset: int
    limit: int
    columns: list[PlatformColumn]
    items: list[Asset]


class HistoryEntry(BaseModel):
    """One recorded change of a creative on one platform account."""

    platform: str
    account: str
    at: float = Field(description="epoch seconds")
    run_id: str | None = None
    run_url: str | None = None
    event: str = Field(description="intent (about to send) | sent | status (polled) | failure")
    state: str
    raw_state: str | None = None
    remote_id: str | None = None
    version: str | None = None
    reason: str | None = None


class SentMetadata(BaseModel):
    """What one platform account was given beside the file (its own field names), when and by which run."""

    platform: str
    account: str
    fields: dict[str, Any]
    sent_at: float
    run_id: str | None = None
    remote_id: str | None = None


class CreativeDetail(BaseModel):
    """One creative: its facts, its state on every platform account and the history of each."""

    columns: list[PlatformColumn]
    asset: Asset
    history: list[HistoryEntry] = Field(description="oldest first")
    metadata: dict[str, SentMetadata] = Field(
        default_factory=dict,
        description="the metadata (creatives.yaml) each platform account was last given, by 'platform:account'",
    )


class RunPlatformCounts(BaseModel):
    """What one run did on one platform."""

    label: str
    account: str | None = None
    error: str | None = None
    sent: int = Field(description="uploads that reached the platform")
    ready: int
    rejected: int
    refused: int = Field(description="refused by the platform's rules, never sent")
    failed: int
    unchanged: int = Field(description="already there: nothing to do, or the same content under another name")
    bytes_sent: int


class Run(BaseModel):
    """One creative_sync run."""

    run_id: str
    run_url: str
    started_at: float
    finished_at: float | None = None
    source: str | None = None
    dry_run: bool
    outcome: str | None = Field(None, description="success | failed | dry_run | running")
    bytes_sent: int
    failures: list[str]
    warnings: list[str] = Field(
        default_factory=list, description="what the run must say even when green: no file matched, unreadable files"
    )
    platforms: dict[str, RunPlatformCounts]


class RunList(BaseModel):
    """One page of runs, newest first."""

    total: int
    offset: int
    limit: int
    items: list[Run]


# ---------------------------------------------------------------------------- helpers
def get_ledger(request: Request) -> Ledger:
    """The ledger: the app's pinned URL, else the ``creative_ledger`` connection or SQLite in AIRFLOW_HOME."""
    return Ledger(request.app.state.ledger_url)


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


def airflow_base(request: Request) -> str:
    """The Airflow UI's base path (this app is mounted at ``<base>/creative-sync``)."""
    root = request.scope.get("root_path", "") or ""
    return root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else root


def app_base(request: Request) -> str:
    return airflow_base(request) + URL_PREFIX


def run_url(request: Request, run_id: str | None) -> str | None:
    if not run_id:
        return None
    dag_id = DAG_ID
    if run_id.startswith("creative_check/"):  # what a creative_check run stored (``sync.check``)
        dag_id, run_id = "creative_check", run_id.removeprefix("creative_check/")
    return f"{airflow_base(request)}/dags/{dag_id}/runs/{quote(run_id, safe='')}"


class AssetLinks:
    """Platform UI links from each platform hook's ``asset_url()``, built once per request.

    The hook is built from the connection the last run used on that platform (else
    ``<platform>_default``) and only trusted when it still points at the record's account.
    A hook that cannot be built, or gives no URL, gives no link: links are never invented.
    """

    def __init__(self, connections: Mapping[str, Mapping[str, str]]) -> None:
        self.connections = connections
        self._hooks: dict[tuple[str, str], Any] = {}

    def _hook(self, platform: str, conn_id: str) -> Any:
        key = (platform, conn_id)
        if key not in self._hooks:
            hook = None
            try:
                from airflow_creative_provider.hooks import hook_class

                cls = hook_class(platform)
                if cls.asset_url is not _base_asset_url():
                    hook = cls(conn_id)
            except Exception:  # noqa: BLE001 - no hook (not installed, no connection): no link
                log.debug("No %s hook for links", platform, exc_info=True)
            self._hooks[key] = hook
        return self._hooks[key]

    def url(self, cell: Mapping[str, Any]) -> str | None:
        if not cell.get("remote_id"):
            return None
        platform = cell["platform"]
        given = (self.connections.get(cell.get("last_run_id") or "") or {}).get(platform) or f"{platform}_default"
        # a run with several accounts of the platform names a list: the one reaching this cell's account
        hook = None
        for conn_id in [given] if isinstance(given, str) else list(given):
            candidate = self._hook(platform, str(conn_id))
            try:
                if candidate is not None and str(candidate.account) == str(cell["account"]):
                    hook = candidate
                    break
            except Exception:  # noqa: BLE001 - a connection that cannot say its account gives no link
                log.debug("No %s account from connection %s", platform, conn_id, exc_info=True)
        if hook is None:
            return None
        try:
            url = hook.asset_url(str(cell["remote_id"]))
        except Exception:  # noqa: BLE001 - a link is a convenience; never fail the page for it
            log.debug("No %s link for %s", platform, cell["remote_id"], exc_info=True)
            return None
        return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _base_asset_url() -> Callable[..., Any]:
    from airflow_creative_provider.hooks.base import CreativePlatformHook

    return CreativePlatformHook.asset_url


def _filter(
    platform: Sequence[str] | None,
    state: str | None,
    q: str | None,
    sort: str,
    offset: int,
    limit: int,
    run: str | None = None,
) -> AssetFilter:
    platforms = tuple(p for p in (platform or []) if p)
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise HTTPException(422, f"unknown platform {unknown[0]!r}; use one of {', '.join(PLATFORMS)}")
    if state and state not in STATES:
        raise HTTPException(422, f"unknown state {state!r}; use one of {', '.join(STATES)}")
    if sort not in queries.SORTS:
        raise HTTPException(422, f"unknown sort {sort!r}; use one of {', '.join(queries.SORTS)}")
    return AssetFilter(
        platforms, state or None, (q or "").strip() or None, sort, offset, limit, run_id=(run or "").strip() or None
    )


def _decorate(request: Request, ledger: Ledger, rows: Sequence[dict[str, Any]]) -> None:
    """Add the links of each row: thumbnail, detail page, platform UI, the runs that changed and sent it."""
    run_ids = [c["last_run_id"] for r in rows for c in r["cells"].values() if c and c.get("last_run_id")]
    links = AssetLinks(queries.run_connections(ledger, run_ids))
    senders = queries.sent_runs(ledger, [r["sha256"] for r in rows])
    base = app_base(request)
    for row in rows:
        row["thumbnail_url"] = f"{base}/thumbnails/{row['sha256']}"
        row["detail_url"] = f"{base}/creatives/{row['sha256']}"
        for cell in row["cells"].values():
            if cell and not cell.get("local"):
                cell["url"] = links.url(cell)
                cell["run_url"] = run_url(request, cell["run_id"])
                sender = senders.get((row["sha256"], cell["platform"], cell["account"])) if cell["remote_id"] else None
                cell["sent_run_id"] = sender
                cell["sent_run_url"] = run_url(request, sender)


def _assets(request: Request, ledger: Ledger, flt: AssetFilter) -> dict[str, Any]:
    page = queries.list_assets(ledger, flt)
    _decorate(request, ledger, page.rows)
    return {
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "columns": _columns(page.columns),
        "items": page.rows,
    }


def _columns(cols: Sequence[queries.Column]) -> list[dict[str, Any]]:
    return [
        {"key": c.key, "platform": c.platform, "account": c.account, "label": c.label, "assets": c.assets} for c in cols
    ]


def _detail(request: Request, ledger: Ledger, sha256: str) -> dict[str, Any]:
    found = queries.creative_detail(ledger, sha256) if SHA256.match(sha256) else None
    if found is None:
        raise HTTPException(404, f"no creative with sha256 {sha256!r} in the ledger")
    cols, row = found
    _decorate(request, ledger, [row])
    history = queries.asset_history(ledger, sha256)
    for entry in history:
        entry["run_url"] = run_url(request, entry["run_id"])
    return {
        "columns": _columns(cols),
        "asset": row,
        "history": history,
        "metadata": queries.asset_metadata(ledger, sha256),
    }


def _runs(request: Request, ledger: Ledger, offset: int, limit: int) -> dict[str, Any]:
    total, runs = queries.list_runs(ledger, offset=offset, limit=limit)
    for run in runs:
        run["run_url"] = run_url(request, run["run_id"])
    return {"total": total, "offset": offset, "limit": limit, "items": runs}


# ---------------------------------------------------------------------------- formatting (templates)
def human_bytes(size: float | None) -> str:
    if size is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def when(ts: float | None) -> str:
    if not ts:
        return "–"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "–"
    seconds = max(0.0, (now or time.time()) - ts)
    for limit, unit, div in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600), (86400 * 60, "d", 86400)):
        if seconds < limit:
            return f"{int(seconds // div)} {unit} ago"
    return when(ts)[:10]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}" if minutes else f"{rest:.1f} s"


_REFUSAL_PREFIX = re.compile(r"^[^;]*?: refused for [\w-]+ \(([\w-]+)\): ")


def short_reason(reason: str | None) -> str:
    """A refusal without the ``<key>: refused for <platform> (<rule>): `` prefix the cell already shows."""
    return _REFUSAL_PREFIX.sub(lambda m: f"{m.group(1)}: ", reason or "")


TEMPLATES.env.filters.update(human_bytes=human_bytes, when=when, ago=ago, duration=duration, short_reason=short_reason)


# ---------------------------------------------------------------------------- app
def create_app(ledger_url: str | None = None) -> FastAPI:
    """Build the app; ``ledger_url`` pins the ledger (else the ``creative_ledger`` connection or SQLite).

    :param ledger_url: SQLAlchemy URL of the ledger, resolved per request when omitted.
    """
    from airflow.api_fastapi.core_api.security import requires_authenticated

    app = FastAPI(
        title="Creative sync",
        summary="State of every creative on every ad platform, from the creative sync ledger.",
        version="1",
        dependencies=[Depends(requires_authenticated())],
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    app.state.ledger_url = ledger_url

    @app.exception_handler(FastAPIHTTPException)
    async def _login_first(request: Request, exc: FastAPIHTTPException) -> Response:
        """A browser without a session asking for a page goes to Airflow's login, then back."""
        wants_page = not request.url.path.rstrip("/").split(URL_PREFIX, 1)[-1].startswith("/api") and (
            "text/html" in request.headers.get("accept", "")
        )
        if exc.status_code == 401 and wants_page and request.method == "GET":
            try:
                from airflow.api_fastapi.app import get_auth_manager

                next_url = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
                login = get_auth_manager().get_url_login(next_url=next_url)
                return RedirectResponse(f"{airflow_base(request)}{login}" if login.startswith("/") else login)
            except Exception:  # noqa: BLE001 - no auth manager: answer the 401 itself
                log.debug("No login URL", exc_info=True)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    # -------------------------------------------------------------- pages
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def creatives_page(
        request: Request,
        ledger: LedgerDep,
        platform: Annotated[str | None, Query()] = None,
        state: Annotated[str | None, Query()] = None,
        q: Annotated[str | None, Query(max_length=200)] = None,
        sort: Annotated[str, Query()] = "name",
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 50,
        run: Annotated[str | None, Query(max_length=250)] = None,
    ) -> HTMLResponse:
        flt = _filter([platform] if platform else [], state, q, sort, (page - 1) * per_page, per_page, run)
        data = _assets(request, ledger, flt)
        pages = max(1, math.ceil(data["total"] / per_page))
        params = {"platform": platform, "state": state, "q": q, "sort": sort, "per_page": per_page, "run": run}

        def page_url(number: int) -> str:
            query = {k: v for k, v in {**params, "page": number}.items() if v not in (None, "", 50, "name")}
            return f"{app_base(request)}/?{urlencode(query)}" if query else f"{app_base(request)}/"

        return TEMPLATES.TemplateResponse(
            request,
            "creatives.html",
            {
                "base": app_base(request),
                "tab": "creatives",
                "data": data,
                "platforms": [(p, queries.display_name(p)) for p in PLATFORMS],
                "states": STATES,
                "flt": {
                    "platform": platform or "",
                    "state": state or "",
                    "q": q or "",
                    "sort": sort,
                    "run": flt.run_id or "",
                },
                "run_url": run_url(request, flt.run_id),
                "per_page": per_page,
                "page": page,
                "pages": pages,
                "page_url": page_url,
                "now": time.time(),
            },
        )

    @app.get("/creatives/{sha256}", response_class=HTMLResponse, include_in_schema=False)
    def creative_page(request: Request, ledger: LedgerDep, sha256: Annotated[str, PathParam()]) -> HTMLResponse:
        data = _detail(request, ledger, sha256)
        history: dict[str, list[dict[str, Any]]] = {}
        for entry in data["history"]:
            history.setdefault(f"{entry['platform']}:{entry['account']}", []).append(entry)
        return TEMPLATES.TemplateResponse(
            request,
            "creative.html",
            {
                "base": app_base(request),
                "tab": "creatives",
                "data": data,
                "row": data["asset"],
                "history": history,
                "metadata": data["metadata"],
                "now": time.time(),
            },
        )

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(
        request: Request,
        ledger: LedgerDep,
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = 25,
    ) -> HTMLResponse:
        data = _runs(request, ledger, (page - 1) * per_page, per_page)
        platforms = list(dict.fromkeys(p for run in data["items"] for p in run["platforms"]))
        order = {p: i for i, p in enumerate(PLATFORMS)}
        # one column per platform account: ``platform:conn_id`` sorts with its platform
        platforms.sort(key=lambda p: (order.get(platform_of(p), len(order)), p))
        return TEMPLATES.TemplateResponse(
            request,
            "runs.html",
            {
                "base": app_base(request),
                "tab": "runs",
                "data": data,
                "platforms": [(p, queries.display_name(p)) for p in platforms],
                "counts": queries.RUN_COUNTS,
                "page": page,
                "pages": max(1, math.ceil(data["total"] / per_page)),
                "per_page": per_page,
                "now": time.time(),
            },
        )

    @app.get("/thumbnails/{sha256}", include_in_schema=False)
    def thumbnail(ledger: LedgerDep, sha256: Annotated[str, PathParam()]) -> Response:
        if not SHA256.match(sha256):
            raise HTTPException(404, "no such creative")
        cached = thumbnails.cached_path(sha256)
        headers = {"Cache-Control": "private, max-age=86400"}
        if cached.exists():
            return FileResponse(cached, media_type="image/webp", headers=headers)
        location = queries.file_location(ledger, sha256)
        kind = "other"
        if location is not None:
            source, key, facts = location
            kind = queries.kind_of(facts.get("mimetype"), key)
            if facts.get("error"):
                kind = "broken"
            elif kind in ("image", "video"):
                made = thumbnails.thumbnail(sha256, queries.source_path(source, key), kind)
                if made is not None:
                    return FileResponse(made, media_type="image/webp", headers=headers)
        return Response(
            thumbnails.icon_svg(kind), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"}
        )

    # -------------------------------------------------------------- API
    @app.get("/api/assets", response_model=AssetList, tags=["Creatives"], summary="The ledger as a matrix")
    def api_assets(
        request: Request,
        ledger: LedgerDep,
        platform: Annotated[
            list[str] | None, Query(description=f"platform column(s) to show: {', '.join(PLATFORMS)}")
        ] = None,
        state: Annotated[
            str | None,
            Query(description=f"only creatives in this state (on the chosen platforms): {', '.join(STATES)}"),
        ] = None,
        q: Annotated[str | None, Query(max_length=200, description="part of the file name or key")] = None,
        sort: Annotated[str, Query(description="name | first_seen | last_change")] = "name",
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 50,
        run: Annotated[
            str | None, Query(max_length=250, description="only creatives this creative_sync run sent or changed")
        ] = None,
    ) -> dict[str, Any]:
        """One page of creatives: facts of the file and, per platform account, state, remote id,
        platform link, reason, last change, the run that made it and the run that sent it."""
        return _assets(request, ledger, _filter(platform, state, q, sort, offset, limit, run))

    @app.get(
        "/api/assets/{sha256}", response_model=CreativeDetail, tags=["Creatives"], summary="One creative, its history"
    )
    def api_asset(request: Request, ledger: LedgerDep, sha256: Annotated[str, PathParam()]) -> dict[str, Any]:
        """One creative (by the sha256 of its content): its facts, its state on every platform account
        and every recorded change there (state, remote id, version, reason, run)."""
        return _detail(request, ledger, sha256)

    @app.get("/api/runs", response_model=RunList, tags=["Runs"], summary="History of creative_sync runs")
    def api_runs(
        request: Request,
        ledger: LedgerDep,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 25,
    ) -> dict[str, Any]:
        """Runs, newest first, with counts per platform (sent, ready, rejected, refused, failed,
        unchanged) and bytes sent."""
        return _runs(request, ledger, offset, limit)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        return JSONResponse({**app.openapi(), "servers": [{"url": app_base(request)}]})

    @app.get("/api/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        """Swagger UI from the installed ``swagger-ui-py`` package: no request leaves the deployment."""
        assets = f"{app_base(request)}/api/docs/assets"
        return get_swagger_ui_html(
            openapi_url=f"{app_base(request)}/api/openapi.json",
            title="Creative sync API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )

    @app.get("/api/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: Annotated[str, PathParam()]) -> Response:
        if name not in SWAGGER_UI_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(
            swagger_ui_static() / name, media_type=SWAGGER_UI_FILES[name], headers={"Cache-Control": "max-age=86400"}
        )

    return app
