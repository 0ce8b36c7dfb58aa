"""The Dexed adapter run through patchflow's reusable adapter test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchflow.testing import AdapterTestSuite


class TestDexedAdapter(AdapterTestSuite):
    """Dexed against the shared checks, with a real factory bank and a real single voice as sample files."""

    synth_id = "dexed"
    max_presets_per_file = 32

    @pytest.fixture(scope="class")
    @classmethod
    def preset_files(cls, dx7_dir: Path) -> list[Path]:
        return [dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx", dx7_dir / "Single Voice" / "001.syx"]
