"""Operator extra links to an asset in a platform's own UI.

Only platforms whose contract documents a URL for an asset get a link; none is invented.
An operator stores the URL during ``execute`` with ``<Link>.persist(context, url)``; Airflow
shows the button once the task ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.sdk import BaseOperator, Context


class CreativeAssetLink(BaseOperatorLink):
    """Base link: reads the URL the operator persisted under ``key``."""

    name: ClassVar[str] = "Asset"
    key: ClassVar[str] = "creative_asset_url"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value = XCom.get_value(key=self.key, ti_key=ti_key)
        return value if isinstance(value, str) else ""

    @classmethod
    def persist(cls, context: Context, url: str | None) -> None:
        if url:
            context["ti"].xcom_push(key=cls.key, value=url)
