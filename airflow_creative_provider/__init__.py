"""Apache Airflow provider that keeps ad creatives in sync with five ad platforms.

``get_provider_info()`` is what Airflow's providers manager reads (entry point group
``apache_airflow_provider``): the hooks, operators, sensors and triggers of each platform
and the connection forms shown in Admin > Connections.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-creative-provider"

#: platform -> (class prefix, display name, vendor docs)
PLATFORMS: dict[str, tuple[str, str, str]] = {
    "topsort": ("Topsort", "Topsort", "https://docs.topsort.com/"),
    "amazon_ads": ("AmazonAds", "Amazon Ads", "https://advertising.amazon.com/API/docs/"),
    "mediamath": ("MediaMath", "MediaMath", "https://apidocs.mediamath.com/"),
    "mediapocket": ("MediaPocket", "MediaPocket", "https://demo.mediapocket.fi/api/docs/V2.html"),
    "delta_projects": ("DeltaProjects", "Delta Projects", "https://docs.deltaprojects.com/api/"),
}


def _string(
    label: str, description: str, *, default: str | None = None, enum: list[str] | None = None, secret: bool = False
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if enum:
        schema["enum"] = [*enum, None]
    if default is not None:
        schema["default"] = default
    if secret:
        schema["format"] = "password"
    return {"label": label, "description": description, "schema": schema}


def _flag(label: str, description: str, default: bool) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["boolean", "null"], "default": default}}


_TIMEOUT = _string("Timeout (s)", "Read timeout in seconds for each API call (optional).")
_MAX_CALLS = _string(
    "Max calls per second",
    "Your account's API quota, per task process (optional; default: the platform's documented limit, if any).",
)

CONNECTION_FORMS: dict[str, dict[str, Any]] = {
    "topsort": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"password": "API key (Advanced)"},
            "placeholders": {"host": "https://api.topsort.com", "password": "Topsort API key"},
        },
        "conn-fields": {
            "vendor_id": _string("Vendor ID", "Topsort vendor id the assets belong to (required to create)."),
            "max_file_bytes": _string(
                "Max file size (bytes)",
                "No documented limit: the project's guard is 500 MB; raise or lower it here (optional).",
            ),
            "timeout": _TIMEOUT,
            "max_calls_per_second": _MAX_CALLS,
        },
    },
    "amazon_ads": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {"login": "LwA client id", "password": "LwA client secret"},
            "placeholders": {
                "host": "https://advertising-api.amazon.com (leave empty to choose by region)",
                "login": "amzn1.application-oa2-client.…",
                "password": "client secret",
            },
        },
        "conn-fields": {
            "refresh_token": _string("Refresh token", "Login with Amazon refresh token (Atzr|…).", secret=True),
            "profile_id": _string("Profile ID", "Advertising profile id sent as Amazon-Advertising-API-Scope."),
            "region": _string(
                "Region", "NA, EU or FE: picks the API host and token URL.", default="NA", enum=["NA", "EU", "FE"]
            ),
            "token_url": _string("Token URL", "Override of the Login with Amazon token URL (optional)."),
            "brand_entity_id": _string("Brand entity ID", "Sellers: brand entity to register assets under."),
            "registration_context": _string(
                "Registration context",
                'DSP assets: registrationContext as JSON, e.g. {"associatedPrograms": [{"programName": '
                '"AMAZON_DSP", "metadata": {"dspAdvertiserId": "…"}}]} (optional).',
            ),
            "max_file_bytes": _string(
                "Max file size (bytes)",
                "No documented limit: the project's guard is 500 MB; raise or lower it here (optional).",
            ),
            "timeout": _TIMEOUT,
            "max_calls_per_second": _MAX_CALLS,
        },
    },
    "mediamath": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port"],
            "relabeling": {"login": "T1 user name", "password": "T1 password"},
            "placeholders": {
                "host": "https://t1.mediamath.com/component_creatives/v1.0",
                "login": "user@example.com",
            },
        },
        "conn-fields": {
            "client_id": _string("OAuth client id", "Client id from MediaMath support."),
            "client_secret": _string("OAuth client secret", "Client secret from MediaMath support.", secret=True),
            "auth_url": _string("Auth URL", "OAuth token endpoint.", default="https://auth.mediamath.com/oauth/token"),
            "session_url": _string(
                "Session URL",
                "T1 API that opens the adama_session (/session, legacy /login).",
                default="https://api.mediamath.com/api/v2.0",
            ),
            "ready_net_statuses": _string(
                "Ready net_status values",
                "Approval net_status values that mean ready, comma-separated.",
                default="APPROVED",
            ),
            "not_submitted_after": _string(
                "Not-submitted wait (s)",
                "Seconds an approval may stay N/A before the creative is reported not submitted for approval.",
                default="300",
            ),
            "advertiser_id": _string("Advertiser ID", "Default advertiser for creatives and assets."),
            "api_key": _string("Legacy API key", "Only for the legacy /api/v2.0/login flow.", secret=True),
            "api_version": _string("API version", "Component Creatives API version.", default="v1.0"),
            "realm": _string("Realm", "OAuth realm, when MediaMath support gave one (optional)."),
            "audience": _string("Audience", "OAuth audience.", default="https://api.mediamath.com/"),
            "timeout": _TIMEOUT,
            "max_calls_per_second": _MAX_CALLS,
        },
    },
    "mediapocket": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "Tenant URL", "password": "API key"},
            "placeholders": {"host": "https://demo.mediapocket.fi", "password": "X-API-KEY"},
        },
        "conn-fields": {
            "project_id": _string("Project ID", "Project the assets are created in."),
            "aws_conn_id": _string(
                "AWS connection", "Airflow AWS connection used to stage local files.", default="aws_default"
            ),
            "staging_bucket": _string(
                "Staging bucket", "S3 bucket where local files are staged for MediaPocket to fetch."
            ),
            "staging_prefix": _string("Staging prefix", "Key prefix of staged files.", default="mediapocket-staging"),
            "tenant_reads_bucket": _flag(
                "Tenant reads the bucket",
                "Hand over S3 keys instead of presigned URLs (the tenant reads the bucket).",
                False,
            ),
            "delete_staged": _flag(
                "Delete staged files", "Delete staged objects once MediaPocket processed them.", True
            ),
            "presigned_url_expires": _string(
                "Presigned URL lifetime (s)", "How long MediaPocket may fetch a staged file.", default="43200"
            ),
            "processing_timeout": _string(
                "Processing timeout (s)", "Report an asset still processing after this.", default="3600"
            ),
            "max_file_bytes": _string(
                "Max file size (bytes)",
                "No documented limit: the project's guard is 500 MB; raise or lower it here (optional).",
            ),
            "timeout": _TIMEOUT,
            "max_calls_per_second": _MAX_CALLS,
        },
    },
    "delta_projects": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"host": "API base URL", "password": "API key"},
            "placeholders": {"host": "https://api.example-dsp.com", "password": "apikey"},
        },
        "conn-fields": {
            "media_agency_id": _string("Media agency ID", "UUID from your Delta Projects representative."),
            "client_id": _string("Client ID", "Client (advertiser) UUID the files belong to."),
            "max_file_bytes": _string("Max file size (bytes)", "Refuse larger files locally (base64 adds a third)."),
            "timeout": _TIMEOUT,
            "max_calls_per_second": _MAX_CALLS,
        },
    },
}


#: Operator extra links: only where a contract documents a URL for an asset (none is invented).
EXTRA_LINKS = ["airflow_creative_provider.operators.delta_projects.DeltaProjectsAssetLink"]


def _modules(role: str) -> list[dict[str, Any]]:
    return [
        {"integration-name": display, "python-modules": [f"airflow_creative_provider.{role}.{platform}"]}
        for platform, (_, display, _) in PLATFORMS.items()
    ]


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow (validated against Airflow's provider_info schema)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "Creative sync (Topsort, Amazon Ads, MediaMath, MediaPocket, Delta Projects)",
        "description": "Keep a shared folder of ad creatives in sync with five ad platforms.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": display, "external-doc-url": docs, "tags": ["service"]}
            for _, display, docs in PLATFORMS.values()
        ],
        "hooks": _modules("hooks"),
        "operators": _modules("operators"),
        "sensors": _modules("sensors"),
        "triggers": _modules("triggers"),
        "connection-types": [
            {
                "hook-class-name": f"airflow_creative_provider.hooks.{platform}.{prefix}Hook",
                "hook-name": display,
                "connection-type": platform,
                **CONNECTION_FORMS[platform],
            }
            for platform, (prefix, display, _) in PLATFORMS.items()
        ],
        "extra-links": EXTRA_LINKS,
    }
