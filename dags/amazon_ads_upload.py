"""Example DAG: upload one creative to the Amazon Ads Creative Asset Library and wait until ACTIVE.

Step by step, as the asset library works:

1. ``upload_file`` checks the file against the chosen rule set (jpg/jpeg/png or mp4/mov, plus a
   program's minimums such as the Sponsored Brands logo's 400x400 px and 1 MB), asks Amazon for
   an upload URL and PUTs the bytes there in the same task: the URL carries a signature and an
   STS token, so it never reaches XCom (only its location does);
2. ``register_asset`` registers the upload (asset type, sub types, tags), tagged with the
   content's sha256 so a retried task finds the asset instead of registering it twice; give
   *New version of* to make a changed file a new version of an existing asset;
3. ``wait_until_active`` waits in the triggerer until the asset is ``ACTIVE``; ``INACTIVE`` or
   ``ARCHIVED`` fail it with Amazon's reason, failed spec checks are logged as warnings.

Run it from the trigger form; it works against the sandbox unchanged.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_creative_provider.hooks.amazon_ads import AMAZON_ADS_RULE_SETS, IMAGE_SUBTYPES, VIDEO_SUBTYPES
from airflow_creative_provider.operators.amazon_ads import (
    AmazonAdsRegisterAssetOperator,
    AmazonAdsUploadAssetOperator,
)
from airflow_creative_provider.sensors.amazon_ads import AmazonAdsAssetSensor

_SOURCE = os.environ.get("CREATIVE_SYNC_SOURCE") or str(
    Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "creatives"
)
_SUBTYPES = [*IMAGE_SUBTYPES, *VIDEO_SUBTYPES]

with DAG(
    dag_id="amazon_ads_upload",
    description="Upload one creative to the Amazon Ads Creative Asset Library and wait until it is ACTIVE.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["creative", "amazon_ads", "example"],
    params={
        "file_path": Param(
            f"{_SOURCE}/logos/logo.png",
            type="string",
            title="File",
            description="Local path or s3:// URI of a jpg, jpeg, png, mp4 or mov file.",
        ),
        "name": Param(
            "",
            type=["string", "null"],
            title="Asset name",
            description="Name in the asset library; empty keeps the file's name.",
        ),
        "rule_set": Param(
            "asset_library",
            type="string",
            enum=list(AMAZON_ADS_RULE_SETS),
            title="Rule set",
            description="Checks before upload: the library's own, or a program's minimums "
            "(e.g. sponsored_brands_logo: png/jpg, at least 400x400, at most 1 MB).",
        ),
        "subtypes": Param(
            [],
            type="array",
            items={"type": "string", "enum": _SUBTYPES},
            examples=_SUBTYPES,
            title="Sub types",
            description="assetSubTypeList (1 to 10); empty picks the rule set's default "
            "(LOGO for logos, OTHER_IMAGE or BACKGROUND_VIDEO otherwise).",
        ),
        "tags": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Tags",
            description="Tags for search and categorisation in the asset library.",
        ),
        "linked_asset_id": Param(
            "",
            type=["string", "null"],
            title="New version of",
            description="assetId of an existing asset to add this file to as a new version; empty makes a new asset.",
        ),
        "conn_id": Param(
            "amazon_ads_default",
            type="string",
            title="Connection",
            description="Airflow connection of type amazon_ads (LwA client, refresh token, profile id, region).",
        ),
    },
    doc_md=__doc__,
) as dag:
    upload_file = AmazonAdsUploadAssetOperator(
        task_id="upload_file",
        file_path="{{ params.file_path }}",
        rule_set="{{ params.rule_set }}",
        conn_id="{{ params.conn_id }}",
        retries=2,
    )
    register_asset = AmazonAdsRegisterAssetOperator(
        task_id="register_asset",
        upload=upload_file.output,
        name="{{ params.name or '' }}",
        subtypes="{{ params.subtypes | tojson }}",
        tags="{{ params.tags | tojson }}",
        linked_asset_id="{{ params.linked_asset_id or '' }}",
        conn_id="{{ params.conn_id }}",
        retries=2,
    )
    wait_until_active = AmazonAdsAssetSensor(
        task_id="wait_until_active",
        remote_ids="{{ ti.xcom_pull(task_ids='register_asset')['remote_id'] }}",
        conn_id="{{ params.conn_id }}",
        deferrable=True,
        poke_interval=15,
        timeout=3600,
    )
    upload_file >> register_asset >> wait_until_active
