"""Shared base of the step operators: builds the platform hook and reads local files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_creative_provider.creative import Creative
from airflow_creative_provider.exceptions import CreativeRefused
from airflow_creative_provider.hooks.base import CreativePlatformHook


class CreativePlatformOperator(BaseOperator):
    """Base of every platform step operator.

    Subclasses set ``hook_class`` and implement ``execute``; they call one public step
    method of the hook and return ids (pushed to XCom). No secret is ever returned.

    :param conn_id: Airflow connection of the platform; the hook's default when omitted.
    """

    hook_class: ClassVar[type[CreativePlatformHook]]
    template_fields: Sequence[str] = ("conn_id",)
    #: look for an earlier attempt's asset also on the first try (operators that create take it as a param).
    resume: bool = False

    def __init__(self, *, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_") and "hook_class" not in cls.__dict__ and not hasattr(cls, "hook_class"):
            raise TypeError(f"{cls.__name__} must set hook_class")

    @cached_property
    def hook(self) -> CreativePlatformHook:
        return self.hook_class(self.conn_id)

    @staticmethod
    def retried(context: Any) -> bool:
        """This is a retry of the task: an earlier try may have created the asset already."""
        ti = context.get("ti") if hasattr(context, "get") else None
        return int(getattr(ti, "try_number", 1) or 1) > 1

    def should_resume(self, context: Any) -> bool:
        """Look for an earlier attempt's asset before creating one: asked for (``resume``), or a retried try."""
        return bool(self.resume) or self.retried(context)

    def inspect_file(self, file_path: str, *, sha1: bool = False, key: str | None = None) -> Creative:
        """Facts of a local file or object-storage URI, refusing it by the platform's rules.

        :param key: the name it is sent under (default: the file's own name).
        """
        if "://" not in file_path and not os.path.isfile(file_path):
            raise CreativeRefused(
                f"{file_path}: no such file; check the file path param.",
                file=file_path,
                rule="missing",
                platform=self.hook_class.platform,
            )
        creative = Creative.inspect(file_path, key, sha1=sha1)
        self.hook.check_creative(creative)
        return creative
