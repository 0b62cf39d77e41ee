"""Example DAG: upload one creative to Topsort and wait until it is approved.

Step by step:

1. ``upload_asset`` checks the file locally (JPEG, PNG, GIF, WebP, HTML, JSON, MP4 or
   QuickTime by extension and content; name at most 64 characters), creates the Topsort asset
   and posts the file to the presigned form Topsort returned, in one task: the form is a
   secret valid for 30 minutes. If it expired, a fresh asset is created and the abandoned id
   reported. A retried try finds the asset of the earlier try (sha256 in the asset metadata)
   instead of creating a second one. The asset id goes to XCom.
2. ``wait_for_approval`` waits in the triggerer until the asset is ``approved`` (its ``url``
   is in the result); ``upload_error`` or ``rejected`` fail the run with the reason.

Run it from the trigger form; it works against the sandbox unchanged (``creative-sandbox``
prints the ``AIRFLOW_CONN_TOPSORT_DEFAULT`` to export).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_creative_provider.operators.topsort import TopsortUploadAssetOperator
from airflow_creative_provider.sensors.topsort import TopsortAssetSensor

_SOURCE = os.environ.get("CREATIVE_SYNC_SOURCE") or str(
    Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "creatives"
)

with DAG(
    dag_id="topsort_upload",
    description="Upload one creative to Topsort and wait until it is approved.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["creative", "topsort", "example"],
    render_template_as_native_obj=True,
    params={
        "file_path": Param(
            f"{_SOURCE}/banners/medium_rectangle_300x250.gif",
            type="string",
            minLength=1,
            title="File",
            description="Local path or s3:// URI of a jpg, png, gif, webp, html, json, mp4 or mov file.",
        ),
        "name": Param(
            "",
            type=["string", "null"],
            maxLength=64,
            title="Asset name",
            description="Name of the asset in Topsort (at most 64 characters); empty uses the file name.",
        ),
        "product_ids": Param(
            [],
            type="array",
            items={"type": "string"},
            maxItems=10,
            title="Product ids",
            description="Up to 10 product ids the asset promotes (one per line).",
        ),
        "brands": Param(
            [],
            type="array",
            items={"type": "string"},
            maxItems=10,
            title="Brands",
            description="Up to 10 brands (one per line).",
        ),
        "conn_id": Param(
            "topsort_default",
            type="string",
            title="Connection",
            description="Airflow connection of type topsort (Advanced API key, vendor_id).",
        ),
    },
    doc_md=__doc__,
) as dag:
    upload_asset = TopsortUploadAssetOperator(
        task_id="upload_asset",
        file_path="{{ params.file_path }}",
        name="{{ params.name or '' }}",
        product_ids="{{ params.product_ids }}",
        brands="{{ params.brands }}",
        conn_id="{{ params.conn_id }}",
        retries=2,
    )
    wait_for_approval = TopsortAssetSensor(
        task_id="wait_for_approval",
        remote_ids="{{ ti.xcom_pull(task_ids='upload_asset') }}",
        conn_id="{{ params.conn_id }}",
        deferrable=True,
        poke_interval=5,
        timeout=3600,
    )
    upload_asset >> wait_for_approval
