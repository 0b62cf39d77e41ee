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
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey


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


#: the DAG whose tasks get the "Creatives of this run" link, and those tasks.
SYNC_DAG_ID = "creative_sync"
SYNC_TASK_IDS = frozenset({"submit", "wait", "report"})
#: ``url_route`` of the plugin's "Creatives" view (``plugin.CreativeSyncPlugin.external_views``).
CREATIVES_ROUTE = "creatives"


class CreativesOfRunLink(BaseOperatorLink):
    """ "Creatives of this run" on the ``submit``, ``wait`` and ``report`` tasks of ``creative_sync``.

    A global link (the plugin's ``global_operator_extra_links``): the DAG's tasks are TaskFlow
    tasks, which cannot carry links of their own. It opens the Creatives page, inside the Airflow
    UI, filtered to the creatives that run sent or changed; every other task gets no link. The
    URL is built from the run id alone (no XCom), under the UI's base path (``[api] base_url``).
    """

    name: ClassVar[str] = "Creatives of this run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if ti_key.dag_id != SYNC_DAG_ID or ti_key.task_id not in SYNC_TASK_IDS:
            return ""
        return creatives_url(run_id=ti_key.run_id)


def creatives_url(*, run_id: str | None = None) -> str:
    """The Creatives page in the Airflow UI (its "Creatives" view showing ``/creative-sync/``),
    filtered to one run when given."""
    from urllib.parse import quote, urlsplit

    from airflow.configuration import conf

    base = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    # the UI's plugin route, then the path its frame opens (the UI keeps the two in step)
    url = f"{base}/plugin/{CREATIVES_ROUTE}{base}/creative-sync/"
    return f"{url}?run={quote(run_id, safe='')}" if run_id else url
