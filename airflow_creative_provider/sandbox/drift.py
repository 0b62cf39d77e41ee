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
  a checksum of them (Delta Projects' SHA-1, recomputed): the content someone replaced there.

The sandbox answers what it stored; nothing here changes how a platform answers a client.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from airflow_creative_provider.sandbox.state import SandboxState

DRIFT_ACTIONS = ("delete", "state", "content")


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


def inject_drift(state: SandboxState, platform: str, remote_id: str, action: str, value: str | None = None) -> str:
    """Delete an asset or set its state behind the client; returns what it was before (its state)."""
    if action not in DRIFT_ACTIONS:
        raise DriftError(f"unknown drift action {action!r}; use one of {', '.join(DRIFT_ACTIONS)}")
    with state.lock:
        assets, key, where = _find(state, platform, remote_id)
        asset = assets[key]
        holder = asset["versions"][-1] if where.on_latest_version and asset.get("versions") else asset
        before = str(holder.get(where.state_field))
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
