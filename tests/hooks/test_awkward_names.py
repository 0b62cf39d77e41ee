"""Issue 12 §2: a name or an extension is never a reason to refuse. The demo's awkward names
(``examples/creatives/names/``) and a JPEG named ``.png`` land on every platform against the
sandbox, which received exactly the file's bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_creative_provider import PLATFORMS
from airflow_creative_provider.creative import Creative
from airflow_creative_provider.hooks import hook_class
from airflow_creative_provider.hooks.base import AssetStatus

NAMES = Path(__file__).resolve().parents[2] / "examples" / "creatives" / "names"
MISLABELLED = NAMES.parent / "bad" / "jpeg_named_as.png"


def received(sandbox, platform: str) -> set[str]:
    """sha256 of every body the sandbox stored for the platform (MediaPocket's via its staging)."""
    platforms = (platform, "staging") if platform == "mediapocket" else (platform,)
    return {e["sha256"] for p in platforms for e in sandbox.journal(platform=p) if e.get("sha256")}


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_awkward_names_and_a_mislabelled_jpeg_land_everywhere(creative_sandbox_env, platform, tmp_path):
    sandbox = creative_sandbox_env
    files = sorted(NAMES.iterdir())
    assert {p.name for p in files} >= {"rentrée — 30% off.png", "Q3 #launch [final].jpg", "photo.jpeg"}
    assert max(len(p.name) for p in files) == 250
    shutil.copy(MISLABELLED, tmp_path / MISLABELLED.name)
    hook = hook_class(platform)()
    for path in [*files, tmp_path / MISLABELLED.name]:
        creative = Creative.inspect(path, sha1=True)
        remote = hook.submit(creative)
        assert remote.remote_id and remote.state != AssetStatus.REJECTED, (platform, path.name)
        assert creative.sha256 in received(sandbox, platform), (platform, path.name)
        if path.name == MISLABELLED.name:
            assert any("sent as image/jpeg" in w for w in remote.warnings), (platform, remote.warnings)
        else:
            assert not [w for w in remote.warnings if "the name says" in w], (platform, path.name)
