"""Example DAG: a MediaMath native creative from an image, a title and a destination URL.

Step by step:

1. ``create_creative`` checks the image locally (JPEG, PNG or GIF by magic bytes, size,
   dimensions, no forbidden characters in the name), then creates a native creative with the
   image as base64 inside the creative's ``assets`` (streamed) and adds the Title (7) and
   Destination URL (4) text assets. The creative carries an ``external_identifier`` derived
   from the image's sha256, so a retried task continues with the creative it already made.
2. ``wait_for_approval`` waits in the triggerer until the creative's approval ``net_status``
   is ``APPROVED``; ``REJECTED`` fails the run with each supply source's reason.

Run it from the trigger form; it works against the sandbox unchanged. The advertiser is the
connection's ``advertiser_id`` unless the form gives one.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_creative_provider.operators.mediamath import MediaMathCreateCreativeOperator
from airflow_creative_provider.sensors.mediamath import MediaMathApprovalSensor

_SOURCE = os.environ.get("CREATIVE_SYNC_SOURCE") or str(
    Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "creatives"
)

with DAG(
    dag_id="mediamath_upload",
    description="Create a MediaMath native creative (image, title, destination URL) and wait for approval.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["creative", "mediamath", "example"],
    params={
        "file_path": Param(
            f"{_SOURCE}/banners/summer_sale_1200x628.jpg",
            type="string",
            title="Image",
            description="Local path or s3:// URI of the native image (jpg, png or gif).",
        ),
        "title": Param(
            "Summer sale",
            type="string",
            minLength=1,
            title="Title",
            description="Text of the creative's Title component.",
        ),
        "destination_url": Param(
            "https://www.example.com/summer-sale",
            type="string",
            pattern="^https?://",
            title="Destination URL",
            description="Where a click leads (the Destination URL component).",
        ),
        "creative_name": Param(
            "",
            type=["string", "null"],
            title="Creative name",
            description="Name of the creative in MediaMath; empty uses the file name.",
        ),
        "advertiser_id": Param(
            "",
            type=["string", "null"],
            title="Advertiser ID",
            description="MediaMath advertiser; empty uses the connection's advertiser_id.",
        ),
        "conn_id": Param(
            "mediamath_default",
            type="string",
            title="Connection",
            description="Airflow connection of type mediamath (T1 user, OAuth client, advertiser).",
        ),
    },
    doc_md=__doc__,
) as dag:
    create_creative = MediaMathCreateCreativeOperator(
        task_id="create_creative",
        file_path="{{ params.file_path }}",
        creative_name="{{ params.creative_name or '' }}",
        title="{{ params.title }}",
        destination_url="{{ params.destination_url }}",
        advertiser_id="{{ params.advertiser_id or '' }}",
        conn_id="{{ params.conn_id }}",
        retries=2,
    )
    wait_for_approval = MediaMathApprovalSensor(
        task_id="wait_for_approval",
        atomic_creative_ids="{{ ti.xcom_pull(task_ids='create_creative', key='atomic_creative_id') }}",
        conn_id="{{ params.conn_id }}",
        deferrable=True,
        poke_interval=30,
        timeout=3 * 24 * 3600,
    )
    create_creative >> wait_for_approval
