"""Drift behind the client: what a person does in a platform's own UI, injected into the sandbox.

``POST /_sandbox/drift`` takes ``{"platform", "remote_id", "action", "state"}``, one endpoint for
every platform, operating on the sandbox's stored assets:

* ``action: "delete"``: the asset is gone (deleted there, or purged from a trash bin): reads
  answer 404 and listings leave it out;
* ``action: "state"``: the asset's own state becomes ``state``, in the platform's words: Topsort
  ``status`` (``rejected``), Amazon Ads the newest version's ``assetStatus`` (``ARCHIVED``),
  MediaMath the approval ``net_status`` (``REJECTED``), MediaPocket ``media_type``, or
  ``trashed`` to move the asset to the trash bin, Delta Projects ``state`` (``UNPROCESSABLE``);
* ``action: "content"``: the stored bytes change (one byte flipped) where the platform exposes
  a checksum of them (Delta Projects' SHA-1, recomputed): the content someone replaced there;
* ``action: "metadata"``: ``fields`` (``{"title": "x"}``) are set on the stored asset, in the
  platform's own field names (``METADATA_FIELDS``): what a person edits in the platform's UI.
  Each platform stores them where its create/update does: MediaPocket the asset's ``title``,
  ``description``, ``category`` (lower-cased, as the seed says the platform stores it),
  ``tags``; MediaMath the creative's ``creative_name``, ``start_date``, ``end_date``; Topsort
  the asset's ``name`` and ``metadata`` (replaced whole); Amazon Ads the newest version's
  ``name``, ``tags``, ``asinList``, ``assetSubTypeList``; Delta Projects the file's ``name``.
  Assumption (no seed says): an edit in a UI moves the asset's modification time where the
  platform shows one (MediaPocket ``modification_date``, MediaMath ``updated_at`` and
  ``last_modified``), and Amazon Ads changes the newest version in place (no new version).

The sandbox answers what it stored; nothing here changes how a platform answers a client.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from airflow_creative_provider.sandbox.state import SandboxState

DRIFT_ACTIONS = ("delete", "state", "content", "metadata")

#: the fields ``action: "metadata"`` may set per platform (their API names) -> whether a list of texts.
METADATA_FIELDS: dict[str, dict[str, str]] = {
    "mediapocket": {"title": "text", "description": "text", "category": "text", "tags": "texts"},
    "mediamath": {"creative_name": "text", "start_date": "text", "end_date": "text"},
    "topsort": {"name": "text", "metadata": "mapping"},
    "amazon_ads": {"name": "text", "tags": "texts", "asinList": "texts", "assetSubTypeList": "texts"},
    "delta_projects": {"name": "text"},
}
#: Amazon Ads: where the sandbox keeps a field on a version record.
_AMAZON_KEYS = {"asinList": "asins", "assetSubTypeList": "assetSubTypes"}


class DriftError(LookupError):
    """The platform or asset is unknown to the sandbox, or the action is not one of ``DRIFT_ACTIONS``."""


@dataclass(frozen=True)
class _Store:
    """Where a platform module keeps its assets (``state.store(platform)[collection]``)."""

    collection: str
    state_field: str
    #: Amazon Ads: the state lives on each version; the newest one is changed.
    on_latest_version: bool = False
    #: MediaPocket: the asset's external id is indexed beside it.
    external_ids: bool = False


_STORES = {
    "topsort": _Store("assets", "status"),
    "amazon_ads": _Store("assets", "assetStatus", on_latest_version=True),
    "mediamath": _Store("creatives", "_approval"),
    "mediapocket": _Store("assets", "media_type", external_ids=True),
    "delta_projects": _Store("files", "state"),
}


def _find(state: SandboxState, platform: str, remote_id: str) -> tuple[dict[Any, Any], Any, _Store]:
    where = _STORES.get(platform)
    if where is None:
        raise DriftError(f"unknown platform {platform!r}; use one of {', '.join(_STORES)}")
    assets = state.store(platform).get(where.collection) or {}
    wanted = remote_id.partition(":version_")[0]  # Amazon ids may carry their version
    for key in assets:
        if str(key) == wanted:
            return assets, key, where
    raise DriftError(f"{platform} holds no asset {remote_id!r}")


def _check_fields(platform: str, fields: Any) -> dict[str, Any]:
    allowed = METADATA_FIELDS.get(platform, {})
    if not isinstance(fields, dict) or not fields:
        raise DriftError(f"action 'metadata' needs 'fields', e.g. {{\"{next(iter(allowed), 'name')}\": \"x\"}}")
    for name, value in fields.items():
        kind = allowed.get(name)
        if kind is None:
            raise DriftError(f"{platform} has no metadata field {name!r} here; use {', '.join(allowed)}")
        ok = {
            "text": isinstance(value, str),
            "texts": isinstance(value, list) and all(isinstance(v, str) for v in value),
            "mapping": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
        }[kind]
        if not ok:
            raise DriftError(f"{platform} field {name!r} takes {kind.replace('texts', 'a list of texts')}")
    return dict(fields)


def _set_metadata(
    state: SandboxState, platform: str, asset: dict[str, Any], holder: dict[str, Any], fields: dict[str, Any]
) -> None:
    if platform == "amazon_ads":
        for name, value in fields.items():
            holder[_AMAZON_KEYS.get(name, name)] = list(value) if isinstance(value, list) else value
        return
    for name, value in fields.items():
        if platform == "mediapocket" and name == "category":
            value = value.lower()
        asset[name] = dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
    if platform == "mediapocket":
        from airflow_creative_provider.sandbox.mediapocket import iso

        asset["modification_date"] = iso(state.now())
    elif platform == "mediamath" and "updated_at" in asset:
        from airflow_creative_provider.sandbox.mediamath import _now_iso

        asset["updated_at"] = _now_iso(state)
        asset["last_modified"] = asset["updated_at"][:19]


def inject_drift(
    state: SandboxState,
    platform: str,
    remote_id: str,
    action: str,
    value: str | None = None,
    fields: dict[str, Any] | None = None,
) -> str:
    """Delete an asset, set its state or its metadata behind the client; returns what it was before (its state)."""
    if action not in DRIFT_ACTIONS:
        raise DriftError(f"unknown drift action {action!r}; use one of {', '.join(DRIFT_ACTIONS)}")
    wanted = _check_fields(platform, fields) if action == "metadata" and platform in _STORES else None
    with state.lock:
        assets, key, where = _find(state, platform, remote_id)
        asset = assets[key]
        holder = asset["versions"][-1] if where.on_latest_version and asset.get("versions") else asset
        before = str(holder.get(where.state_field))
        if wanted is not None:
            _set_metadata(state, platform, asset, holder, wanted)
            return before
        if action == "delete":
            del assets[key]
            if where.external_ids and asset.get("external_id"):
                state.store(platform).get("external_ids", {}).pop(asset["external_id"], None)
            return before
        if action == "content":
            data = asset.get("data")
            if not isinstance(data, bytes) or "checksum" not in asset:
                raise DriftError(f"{platform} exposes no checksum of its content: use 'delete' or 'state'")
            asset["data"] = data[:-1] + bytes([data[-1] ^ 0xFF]) if data else b"\0"
            asset["checksum"] = hashlib.sha1(asset["data"], usedforsecurity=False).hexdigest().upper()
            return before
        if not value:
            raise DriftError("action 'state' needs a 'state' value in the platform's own words")
        if platform == "mediapocket" and value == "trashed":
            asset["_trashed_at"] = state.now()
            from airflow_creative_provider.sandbox.mediapocket import iso

            asset["deleted"] = iso(state.now())
            return before
        holder[where.state_field] = value
        if platform == "mediamath" and value == "REJECTED":  # the approval answer carries a reason
            asset.setdefault("_reason", "rejected after approval (sandbox drift)")
        return before
