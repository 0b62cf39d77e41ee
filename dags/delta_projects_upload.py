"""Example DAG: upload one image to Delta Projects and wait until it is processed.

Step by step: ``upload_file`` checks the file locally (jpg, gif or png, no video, size) and
streams it as base64 JSON to Delta's Files API; ``wait_until_processed`` waits in the
triggerer until Delta marks the file ``PROCESSED`` and checks Delta's SHA-1 checksum against
the local file. Run it from the trigger form; it works against the sandbox unchanged.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_creative_provider.operators.delta_projects import DeltaProjectsUploadFileOperator
from airflow_creative_provider.sensors.delta_projects import DeltaProjectsFileSensor

_SOURCE = os.environ.get("CREATIVE_SYNC_SOURCE") or str(
    Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "creatives"
)

with DAG(
    dag_id="delta_projects_upload",
    description="Upload one image to Delta Projects and wait until it is PROCESSED.",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["creative", "delta_projects", "example"],
    params={
        "file_path": Param(
            f"{_SOURCE}/logos/app_icon_100x100.png",
            type="string",
            title="File",
            description="Local path or s3:// URI of a jpg, gif or png file.",
        ),
        "name": Param(
            "",
            type=["string", "null"],
            title="Name at Delta",
            description="File name sent to Delta, with its extension; empty keeps the file's own name.",
        ),
        "conn_id": Param(
            "delta_projects_default",
            type="string",
            title="Connection",
            description="Airflow connection of type delta_projects (API key, media agency and client ids).",
        ),
    },
    doc_md=__doc__,
) as dag:
    upload_file = DeltaProjectsUploadFileOperator(
        task_id="upload_file",
        file_path="{{ params.file_path }}",
        name="{{ params.name or '' }}",
        conn_id="{{ params.conn_id }}",
        retries=2,
    )
    wait_until_processed = DeltaProjectsFileSensor(
        task_id="wait_until_processed",
        remote_ids="{{ ti.xcom_pull(task_ids='upload_file', key='file_id') }}",
        expected_sha1="{{ ti.xcom_pull(task_ids='upload_file', key='sha1') }}",
        conn_id="{{ params.conn_id }}",
        deferrable=True,
        poke_interval=10,
        timeout=3600,
    )
    upload_file >> wait_until_processed
