"""The simulated site's vendor mirror: a real HTTP apt repository of stand-in packages."""

from __future__ import annotations

import os
import urllib.request

import pytest

from infra.sim import mirror


@pytest.mark.integration
def test_mirror_serves_the_packages_and_stops_cleanly(tmp_path):
    info = mirror.start_mirror(tmp_path, host="127.0.3.9", port=8619)
    try:
        assert info["url"] == "http://127.0.3.9:8619"
        assert mirror.start_mirror(tmp_path, host="127.0.3.9", port=8619) == info  # idempotent
        index = urllib.request.urlopen(f"{info['url']}/Packages", timeout=5).read().decode()
        assert "Package: nvidia-fabricmanager" in index
        assert "Package: libnccl2" in index
    finally:
        mirror.stop_mirror(tmp_path)
    assert mirror.mirror_status(tmp_path) is None
    assert not (tmp_path / "mirror").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)
