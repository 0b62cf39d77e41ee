"""Metadata from the folder: ``creatives.yaml`` at the source's root says what each platform
stores beside each file (names, tags, descriptions, dates...).

The manifest (YAML)::

    name_template: "{folder}-{stem}"   # files without a name of their own (default "{name}")
    defaults:                          # every file; the entries below override
      tags: [spring-2026]
    files:
      "banners/*.png":                 # a glob, as the include param reads it
        name: "Spring banner {stem}"   # a template too
        description: Homepage banner
        category: Banners
        tags: [spring-2026, homepage]
        amazon_ads:                    # per-platform overrides, in the platform's own words
          asinList: [B000000001]
          assetSubTypeList: [LIFESTYLE_IMAGE]
        mediamath:
          start_date: "2026-03-01T00:00:00"
          end_date: "2026-05-31T00:00:00"
        topsort:
          metadata: {campaign: spring}

Every entry whose glob matches a file applies, in file order, a later one overriding an
earlier one field by field. The common fields map onto each platform's own (``name``:
Amazon ``name``, MediaPocket ``title``, MediaMath ``creative_name``, Topsort ``name``, Delta
the file name; ``tags``: Amazon and MediaPocket; ``description`` and ``category``:
MediaPocket); a platform section sets that platform's fields by their API names.

``resolve`` gives one file's fields for one platform, validated (``MetadataRefused`` names
the file, the field and the rule) and fitted where the platform limits a name (a name is
never a reason to refuse: a fitting one is derived). ``digest`` of what was sent is kept in
the ledger; the plan compares it with what the manifest says now (``sync.plan``): a change
of metadata alone is an ``update`` where the platform documents one (MediaMath "Update
Creatives Details", MediaPocket ``PUT /assets/:id``), without sending the bytes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from airflow_creative_provider.creative import MIMETYPE_BY_EXTENSION, Creative
from airflow_creative_provider.sync.source import MANIFEST_NAME, matches_include

#: no template: each platform gets the name its hook sends by default (the file name; Topsort's
#: and Delta's with the content's extension).
DEFAULT_NAME_TEMPLATE: str | None = None

#: fields every platform reads (mapped onto its own names).
COMMON_FIELDS = ("name", "description", "category", "tags")
#: each platform's own fields (their API names) a manifest may set.
PLATFORM_FIELDS: dict[str, tuple[str, ...]] = {
    "amazon_ads": ("name", "tags", "asinList", "brandEntityIds", "assetSubTypeList"),
    "mediapocket": ("title", "description", "category", "tags"),
    "mediamath": ("creative_name", "start_date", "end_date"),
    "topsort": ("name", "metadata"),
    "delta_projects": ("name",),
}
#: the common fields each platform takes, and under which name.
COMMON_MAP: dict[str, dict[str, str]] = {
    "amazon_ads": {"name": "name", "tags": "tags"},
    "mediapocket": {"name": "title", "description": "description", "category": "category", "tags": "tags"},
    "mediamath": {"name": "creative_name"},
    "topsort": {"name": "name"},
    "delta_projects": {"name": "name"},
}
#: platforms whose API documents a metadata update without sending the file again.
UPDATABLE: dict[str, str] = {
    "mediamath": "Update Creatives Details (POST /creatives/{id})",
    "mediapocket": "PUT /assets/:asset_id",
}
#: what happens to a metadata change where no update exists (the report says it).
NO_UPDATE: dict[str, str] = {
    "amazon_ads": (
        "Amazon Ads documents no update of an asset's name, tags or ASINs (only a new version, which sends the "
        "file again): the asset keeps what it was registered with; the new metadata goes with the file's next "
        "version (a change of its content)"
    ),
    "topsort": (
        "Topsort documents no update of an asset: it keeps its name and metadata; the new ones go with the "
        "next asset of this file (a change of its content)"
    ),
    "delta_projects": (
        "Delta Projects documents no rename of a file: it keeps its name; the new name goes with the next "
        "upload of this file (a change of its content)"
    ),
}

_IDENT = re.compile(r"[^A-Za-z0-9._-]+")
_MEDIAMATH_DATE = "%Y-%m-%dT%H:%M:%S"
AMAZON_IMAGE_SUBTYPES = ("LOGO", "PRODUCT_IMAGE", "AUTHOR_IMAGE", "LIFESTYLE_IMAGE", "OTHER_IMAGE")
AMAZON_VIDEO_SUBTYPES = ("BACKGROUND_VIDEO",)
TOPSORT_MAX_NAME, TOPSORT_MAX_KEY, TOPSORT_MAX_VALUE = 64, 32, 64
#: the Topsort metadata key this project writes itself (the content's idempotency mark).
TOPSORT_RESERVED_KEY = "sha256"
DELTA_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif"}


class ManifestError(ValueError):
    """The manifest cannot be read: not YAML, or an entry or field this project does not know."""


@dataclass(frozen=True)
class MetadataRefused:
    """A value a platform cannot take: the file, the field and the rule."""

    file: str
    platform: str
    field: str
    message: str

    @property
    def rule(self) -> str:
        return f"metadata:{self.field}"

    @property
    def reason(self) -> str:
        return f"{self.file}: refused for {self.platform} (metadata field {self.field!r}): {self.message}"


@dataclass(frozen=True)
class Manifest:
    """A parsed ``creatives.yaml``: the name template, the defaults and the entries in file order."""

    name_template: str | None = DEFAULT_NAME_TEMPLATE
    defaults: Mapping[str, Any] = field(default_factory=dict)
    entries: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    #: sha256 of the manifest's bytes ("" without one): part of the plan's inputs.
    digest: str = ""

    @classmethod
    def parse(cls, text: str | bytes, *, where: str = MANIFEST_NAME) -> Manifest:
        """Parse and check the manifest's shape; ``ManifestError`` names what is wrong and where."""
        raw_bytes = text.encode() if isinstance(text, str) else text
        try:
            data = yaml.safe_load(raw_bytes) or {}
        except yaml.YAMLError as exc:
            raise ManifestError(f"{where}: not valid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            raise ManifestError(f"{where}: must be a mapping with name_template, defaults and files")
        unknown = set(data) - {"name_template", "defaults", "files", "version"}
        if unknown:
            raise ManifestError(
                f"{where}: unknown top-level key(s) {sorted(map(str, unknown))}; use name_template, defaults, files"
            )
        template = data.get("name_template", DEFAULT_NAME_TEMPLATE)
        if template is not None:
            if not isinstance(template, str) or not template.strip():
                raise ManifestError(f"{where}: name_template must be a non-empty text such as '{{folder}}-{{stem}}'")
            _check_template(template, f"{where}: name_template")
        defaults = _check_entry(data.get("defaults") or {}, f"{where}: defaults")
        files = data.get("files") or {}
        if not isinstance(files, Mapping):
            raise ManifestError(f"{where}: files must map globs (or file keys) to fields")
        entries = tuple(
            (str(glob), _check_entry(fields or {}, f"{where}: files[{glob!r}]")) for glob, fields in files.items()
        )
        return cls(template, defaults, entries, hashlib.sha256(raw_bytes).hexdigest())

    def fields_for(self, key: str) -> tuple[dict[str, Any], bool]:
        """The merged fields of one file (defaults, then every matching entry) and whether an entry matched."""
        merged = _merge({}, self.defaults)
        matched = False
        for glob, fields in self.entries:
            if glob == key or matches_include(key, glob):
                merged = _merge(merged, fields)
                matched = True
        return merged, matched


def _check_template(template: str, where: str) -> None:
    try:
        template.format(**_template_values_for("a/b.png"))
    except (KeyError, IndexError, ValueError) as exc:
        raise ManifestError(
            f"{where}: the template {template!r} uses an unknown placeholder ({exc}); use "
            "{name}, {stem}, {ext}, {key}, {folder}, {path_slug}"
        ) from None


def _check_entry(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ManifestError(f"{where}: must map field names to values")
    out: dict[str, Any] = {}
    for name, value in entry.items():
        name = str(name)
        if name in PLATFORM_FIELDS:
            if not isinstance(value, Mapping):
                raise ManifestError(f"{where}.{name}: must map {name} field names to values")
            bad = sorted(str(k) for k in value if str(k) not in PLATFORM_FIELDS[name])
            if bad:
                raise ManifestError(
                    f"{where}.{name}: unknown field(s) {bad}; {name} takes {', '.join(PLATFORM_FIELDS[name])}"
                )
            out[name] = {str(k): v for k, v in value.items()}
        elif name in COMMON_FIELDS:
            if name == "name" and isinstance(value, str):
                _check_template(value, f"{where}.name")
            out[name] = value
        else:
            raise ManifestError(
                f"{where}: unknown field {name!r}; use {', '.join(COMMON_FIELDS)} or a platform section "
                f"({', '.join(PLATFORM_FIELDS)})"
            )
    return out


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, value in over.items():
        if name in PLATFORM_FIELDS and isinstance(value, Mapping):
            out[name] = {**(out.get(name) or {}), **value}
        else:
            out[name] = value
    return out


def _template_values_for(key: str) -> dict[str, str]:
    name = posixpath.basename(key)
    stem, ext = os.path.splitext(name)
    folder = posixpath.dirname(key)
    return {
        "name": name,
        "stem": stem,
        "ext": ext.lstrip("."),
        "key": key,
        "folder": folder.replace("/", "-"),
        "path_slug": _IDENT.sub("-", posixpath.splitext(key)[0]).strip("-"),
    }


def render_name(template: str, creative: Creative) -> str:
    """A name template applied to one file.

    Placeholders: ``{name}``, ``{stem}``, ``{ext}``, ``{key}``, ``{folder}``, ``{path_slug}``.
    """
    return template.format(**_template_values_for(creative.key)).strip()


# ---------------------------------------------------------------------------- per platform
def resolve(manifest: Manifest | None, creative: Creative, platform: str) -> dict[str, Any] | MetadataRefused:
    """The fields ``platform`` gets for ``creative`` (its API names), validated and fitted; or why not.

    Without a manifest (or an entry) the name is the one the hook sends by default, so a
    folder without a manifest syncs as before.
    """
    manifest = manifest or Manifest()
    merged, _matched = manifest.fields_for(creative.key)
    wanted: dict[str, Any] = {}
    for common, native in COMMON_MAP.get(platform, {}).items():
        if common in merged and merged[common] is not None:
            wanted[native] = merged[common]
    wanted.update(merged.get(platform) or {})
    name_field = COMMON_MAP.get(platform, {}).get("name")
    if name_field is not None:
        raw = wanted.get(name_field)
        if raw is None:
            raw = manifest.name_template  # None: the platform's default name (set by its check)
        if raw is not None and not isinstance(raw, str):
            return MetadataRefused(creative.key, platform, name_field, f"must be a text, got {_kind(raw)}")
        if raw is not None:
            wanted[name_field] = render_name(raw, creative) if "{" in raw else raw.strip()
    check = _CHECKS.get(platform)
    return check(creative, platform, wanted) if check else wanted


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _strings(
    creative: Creative, platform: str, fields: dict[str, Any], name: str, *, low: int = 0, high: int | None = None
) -> MetadataRefused | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, (str, int)) for v in value):
        return MetadataRefused(creative.key, platform, name, f"must be a list of texts, got {_kind(value)}")
    fields[name] = [str(v) for v in value]
    if not low <= len(value) <= (high if high is not None else len(value)):
        limit = f"{low} to {high}" if high is not None else f"at least {low}"
        return MetadataRefused(creative.key, platform, name, f"has {len(value)} items; {platform} takes {limit}")
    return None


def _text(creative: Creative, platform: str, fields: dict[str, Any], name: str) -> MetadataRefused | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, (str, int, float)):
        return MetadataRefused(creative.key, platform, name, f"must be a text, got {_kind(value)}")
    if value is not None:
        fields[name] = str(value)
    return None


def _fallback_name(creative: Creative, fields: dict[str, Any], name: str, default: str) -> None:
    """An empty name is replaced by the file's (a client-chosen name is never a reason to refuse)."""
    if not str(fields.get(name) or "").strip():
        fields[name] = default


def _amazon(creative: Creative, platform: str, fields: dict[str, Any]) -> dict[str, Any] | MetadataRefused:
    _fallback_name(creative, fields, "name", creative.name)
    for name, low, high in (("tags", 0, None), ("asinList", 1, 100), ("brandEntityIds", 1, 100)):
        if problem := _strings(creative, platform, fields, name, low=low, high=high):
            return problem
    if "assetSubTypeList" in fields:
        if problem := _strings(creative, platform, fields, "assetSubTypeList", low=1, high=10):
            return problem
        subtypes = [s.upper() for s in fields["assetSubTypeList"]]
        video = (creative.mimetype or "").startswith("video/")
        allowed = AMAZON_VIDEO_SUBTYPES if video else AMAZON_IMAGE_SUBTYPES
        bad = [s for s in subtypes if s not in allowed]
        if bad:
            kind = "a video" if video else "an image"
            return MetadataRefused(
                creative.key, platform, "assetSubTypeList", f"{bad} do not fit {kind}; use {', '.join(allowed)}"
            )
        fields["assetSubTypeList"] = subtypes
    return fields


def _mediapocket(creative: Creative, platform: str, fields: dict[str, Any]) -> dict[str, Any] | MetadataRefused:
    for name in ("title", "description", "category"):
        if problem := _text(creative, platform, fields, name):
            return problem
    _fallback_name(creative, fields, "title", creative.name)
    if problem := _strings(creative, platform, fields, "tags"):
        return problem
    if fields.get("category"):
        fields["category"] = fields["category"].lower()  # MediaPocket stores it lower-cased (contract)
    return fields


def _mediamath(creative: Creative, platform: str, fields: dict[str, Any]) -> dict[str, Any] | MetadataRefused:
    if problem := _text(creative, platform, fields, "creative_name"):
        return problem
    _fallback_name(creative, fields, "creative_name", creative.name)
    dates: dict[str, datetime] = {}
    for name in ("start_date", "end_date"):
        value = fields.get(name)
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.strftime(_MEDIAMATH_DATE)
        try:
            dates[name] = datetime.strptime(str(value), _MEDIAMATH_DATE)
        except ValueError:
            return MetadataRefused(
                creative.key,
                platform,
                name,
                f"{value!r} is not a date and time like 2026-03-01T00:00:00 (the form MediaMath's examples show)",
            )
        fields[name] = str(value)
    if len(dates) == 1:
        missing = "end_date" if "start_date" in dates else "start_date"
        return MetadataRefused(creative.key, platform, missing, "start_date and end_date go together: give both")
    if dates and dates["end_date"] < dates["start_date"]:
        return MetadataRefused(creative.key, platform, "end_date", "is before start_date")
    return fields


def _topsort(creative: Creative, platform: str, fields: dict[str, Any]) -> dict[str, Any] | MetadataRefused:
    from airflow_creative_provider.hooks.topsort import fit_asset_name

    _fallback_name(creative, fields, "name", creative.upload_name)
    fields["name"] = fit_asset_name(fields["name"], TOPSORT_MAX_NAME)
    metadata = fields.get("metadata")
    if metadata is None:
        return fields
    if not isinstance(metadata, Mapping):
        return MetadataRefused(creative.key, platform, "metadata", f"must map keys to texts, got {_kind(metadata)}")
    clean: dict[str, str] = {}
    for key, value in metadata.items():
        key = str(key)
        if key == TOPSORT_RESERVED_KEY:
            return MetadataRefused(
                creative.key, platform, "metadata", f"key {key!r} is this project's content mark; choose another key"
            )
        if len(key) > TOPSORT_MAX_KEY:
            return MetadataRefused(
                creative.key,
                platform,
                "metadata",
                f"key {key!r} has {len(key)} characters, the limit is {TOPSORT_MAX_KEY}",
            )
        if not isinstance(value, (str, int, float, bool)):
            return MetadataRefused(creative.key, platform, "metadata", f"value of {key!r} must be a text")
        text = str(value)
        if len(text) > TOPSORT_MAX_VALUE:
            return MetadataRefused(
                creative.key,
                platform,
                "metadata",
                f"value of {key!r} has {len(text)} characters, the limit is {TOPSORT_MAX_VALUE}",
            )
        clean[key] = text
    fields["metadata"] = clean
    return fields


def _delta(creative: Creative, platform: str, fields: dict[str, Any]) -> dict[str, Any] | MetadataRefused:
    _fallback_name(creative, fields, "name", creative.typed_name)
    name = str(fields["name"]).replace("/", "-").replace("\\", "-").strip()
    # Delta lists its types as jpg, gif and png: the name ends with the content's (derived, never refused)
    ext = DELTA_EXTENSIONS.get(creative.mimetype or "")
    stem, current = os.path.splitext(name)
    if ext and current.lower() != ext:
        name = f"{stem if current.lower() in MIMETYPE_BY_EXTENSION else name}{ext}"
    fields["name"] = name
    return fields


_CHECKS = {
    "amazon_ads": _amazon,
    "mediapocket": _mediapocket,
    "mediamath": _mediamath,
    "topsort": _topsort,
    "delta_projects": _delta,
}


def digest(fields: Mapping[str, Any] | None) -> str:
    """A stable digest of the fields sent (key order does not matter)."""
    return hashlib.sha256(json.dumps(fields or {}, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------- sending
def submit_kwargs(platform: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the platform hook's ``submit`` that carry ``fields``."""
    f = dict(fields)
    if platform == "amazon_ads":
        return {
            "name": f.get("name"),
            "tags": f.get("tags"),
            "asins": f.get("asinList"),
            "subtypes": f.get("assetSubTypeList"),
            "brand_entity_ids": f.get("brandEntityIds"),
        }
    if platform == "mediapocket":
        return {k: f.get(k) for k in ("title", "description", "category", "tags")}
    if platform == "mediamath":
        return {k: f.get(k) for k in ("creative_name", "start_date", "end_date")}
    if platform == "topsort":
        return {"name": f.get("name"), "metadata": f.get("metadata")}
    if platform == "delta_projects":
        return {"name": f.get("name")}
    return {}


def update_remote(hook: Any, remote_id: str, fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> None:
    """Send changed metadata through the platform's documented update (no bytes).

    :raises NotImplementedError: the platform documents no update (``NO_UPDATE`` says what happens).
    """
    platform = hook.platform
    if platform == "mediamath":
        document = {"creative_name": fields["creative_name"]}
        if fields.get("start_date"):
            document.update(start_date=fields["start_date"], end_date=fields["end_date"])
        hook.update_creative(remote_id, fields=document)
        return
    if platform == "mediapocket":
        changes: dict[str, Any] = {}
        for name in ("title", "description", "category", "tags"):
            value = fields.get(name)
            if value is None and (previous or {}).get(name):  # no longer set: cleared
                value = [] if name == "tags" else ""
            if value is not None:
                changes[name] = value
        hook.update_asset(remote_id, **changes)
        return
    raise NotImplementedError(NO_UPDATE.get(platform, f"{platform} documents no metadata update"))


__all__ = [
    "MANIFEST_NAME",
    "NO_UPDATE",
    "UPDATABLE",
    "Manifest",
    "ManifestError",
    "MetadataRefused",
    "digest",
    "render_name",
    "resolve",
    "submit_kwargs",
    "update_remote",
]
