"""patchflow's reusable adapter checks, run against the installed FM2 (two-operator FM) adapter.

See the "Testing an adapter" guide for what :class:`patchflow.testing.AdapterTestSuite` checks and its settings.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from patchflow.testing import AdapterTestSuite


class TestFm2Synth(AdapterTestSuite):
    synth_id = "fm2"
    max_presets_per_file = None  # a JSON bank holds any number of presets

    @pytest.fixture(scope="class")
    @classmethod
    def preset_files(cls) -> list[Path]:
        return [Path(str(resources.files("patchflow_fm2") / "factory.json"))]
