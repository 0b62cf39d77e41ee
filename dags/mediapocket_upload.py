"""Example DAG: stage one creative in S3, create it as a MediaPocket asset, wait until processed.

Step by step:

1. ``stage_file`` checks the file locally (image or video, not empty, not corrupt) and streams
   it to the connection's S3 staging bucket (``aws_conn_id`` + ``staging_bucket`` extras);
   an ``s3://`` source is used in place. Its XCom holds the ``s3://`` URI and the stable
   external id (content hash + project), never a presigned URL.
2. ``create_asset`` presigns the staged object and creates the asset in the project with the
   media URL (or the S3-key form when the tenant reads the bucket). It looks the external id up
   first, so a retried run reuses the asset instead of making a second one.
3. ``wait_until_processed`` waits in the triggerer until MediaPocket fetched and processed the
   media (``media_type`` image/video); then the staged object is deleted.

Run it from the trigger form; against the sandbox it works unchanged.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_creative_provider.operators.mediapocket import (
    MediaPocketCreateAssetOperator,
    MediaPocketStageFileOperator,
)
from airflow_creative_provider.sensors.mediapocket import MediaPocketAssetSensor

_SOURCE = os.environ.get("CREATIVE_SYNC_SOURCE") or str(
    Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "creatives"
)
_STAGED = "ti.xcom_pull(task_ids='stage_file')"

with DAG(
    dag_id="mediapocket_upload",
    description="Stage one creative in S3, create it as a MediaPocket asset and wait until processed.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["creative", "mediapocket", "example"],
    params={
        "file_path": Param(
            f"{_SOURCE}/social/new_arrivals_1080x1080.png",
            type="string",
            title="File",
            description="Local path (staged through S3) or s3:// URI (presigned in place) of an image or video.",
        ),
        "title": Param(
            "",
            type=["string", "null"],
            title="Title",
            description="Asset title in MediaPocket; empty uses the file name.",
        ),
        "category": Param(
            "",
            type=["string", "null"],
            title="Category",
            description="Optional category (MediaPocket stores it lower-cased).",
        ),
        "tags": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Tags",
            description="Optional tags, one per line.",
        ),
        "project_id": Param(
            "",
            type=["string", "null"],
            title="Project ID",
            description="Project to create the asset in; empty uses the connection's project_id.",
        ),
        "conn_id": Param(
            "mediapocket_default",
            type="string",
            title="Connection",
            description="Airflow connection of type mediapocket (tenant URL, API key, project, S3 staging).",
        ),
    },
    doc_md=__doc__,
) as dag:
    stage_file = MediaPocketStageFileOperator(
        task_id="stage_file",
        file_path="{{ params.file_path }}",
        project_id="{{ params.project_id or '' }}",
        conn_id="{{ params.conn_id }}",
        retries=2,
    )
    create_asset = MediaPocketCreateAssetOperator(
        task_id="create_asset",
        source="{{ " + _STAGED + "['source'] }}",
        filename="{{ " + _STAGED + "['filename'] }}",
        external_id="{{ " + _STAGED + "['external_id'] }}",
        title="{{ params.title or '' }}",
        category="{{ params.category or '' }}",
        tags="{{ params.tags | join(',') }}",
        project_id="{{ params.project_id or '' }}",
        conn_id="{{ params.conn_id }}",
        retries=2,
    )
    wait_until_processed = MediaPocketAssetSensor(
        task_id="wait_until_processed",
        remote_ids="{{ ti.xcom_pull(task_ids='create_asset')['asset_id'] }}",
        conn_id="{{ params.conn_id }}",
        deferrable=True,
        poke_interval=10,
        timeout=3600,
    )
    stage_file >> create_asset >> wait_until_processed
