"""Airflow plugin of the provider (registered through the ``airflow.plugins`` entry point).

It adds the **Creatives** page to the Airflow 3 UI:

* ``fastapi_apps``: the page and its JSON API (``airflow_creative_provider.ui.app``) mounted
  by the api-server under ``/creative-sync``; every route depends on Airflow's
  ``requires_authenticated()``, so it is only served to users Airflow has authenticated;
* ``external_views``: a top-level navigation entry "Creatives" (``url_route`` ``creatives``)
  under which the UI shows that page in its content area;
* ``global_operator_extra_links``: "Creatives of this run" on the ``creative_sync`` tasks
  ``submit``, ``wait`` and ``report`` (the page filtered to what that run sent or changed).

Why ``external_views`` and not ``react_apps``: the page is server-rendered HTML (Jinja2,
shipped with Airflow) over SQL queries, so the provider ships no JavaScript bundle, needs
no Node tool chain to build or review, and cannot break when the UI's React version
changes. The same page also works on its own at ``/creative-sync/`` (bookmarks, links from
alerts), and other tools read the same data from ``/creative-sync/api/``. A React app would
only pay off for interactions this page does not need.

The view's ``href`` is relative (no leading slash): the UI resolves it against its own base
URL, so the page also works when Airflow is served under a path prefix.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.sdk.plugins_manager import AirflowPlugin

from airflow_creative_provider.links import CREATIVES_ROUTE, CreativesOfRunLink

URL_PREFIX = "/creative-sync"


class CreativeSyncApp:
    """The page's ASGI app, built on its first request.

    Every Airflow process that loads plugins (workers running tasks, the scheduler, the
    dag-processor) would otherwise import and build the whole FastAPI app (about 2 s of CPU)
    only for the api-server to use it.
    """

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_creative_provider.ui.app import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class CreativeSyncPlugin(AirflowPlugin):
    """The Creatives page: a FastAPI app under ``/creative-sync`` and its navigation entry, and the
    "Creatives of this run" link on the sync DAG's submit, wait and report tasks."""

    name = "creative_sync"
    global_operator_extra_links = [CreativesOfRunLink()]
    fastapi_apps = [
        {
            "app": CreativeSyncApp(),
            "url_prefix": URL_PREFIX,
            "name": "Creative sync",
        }
    ]
    external_views = [
        {
            "name": "Creatives",
            "href": "creative-sync/",
            "url_route": CREATIVES_ROUTE,
            "destination": "nav",
            "nav_top_level": True,
            "icon": "data:image/svg+xml;utf8,"
            "%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' stroke='%23888'"
            " stroke-width='1.8' stroke-linecap='round' stroke-linejoin='round'%3E%3Crect x='3' y='5' width='18'"
            " height='14' rx='2'/%3E%3Ccircle cx='8.5' cy='10' r='1.5'/%3E%3Cpath d='M21 16l-5-5-8 8'/%3E%3C/svg%3E",
        }
    ]
