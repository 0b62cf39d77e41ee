"""Platform hooks, one module per platform; ``hook_class(platform)`` resolves one by name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from airflow_creative_provider import PLATFORMS

if TYPE_CHECKING:
    from airflow_creative_provider.hooks.base import CreativePlatformHook


class UnknownPlatformError(ValueError):
    """A platform name that is not one of the five."""


def hook_class(platform: str) -> type[CreativePlatformHook]:
    """The hook class of ``platform`` (``topsort``, ``amazon_ads``, ``mediamath``, ...)."""
    if platform not in PLATFORMS:
        raise UnknownPlatformError(f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}")
    prefix = PLATFORMS[platform][0]
    module = importlib.import_module(f"airflow_creative_provider.hooks.{platform}")
    return getattr(module, f"{prefix}Hook")
