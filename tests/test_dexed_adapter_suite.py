"""The Dexed adapter run through patchflow's reusable adapter test suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from patchflow import ParameterSpec, Synth
from patchflow.testing import AdapterTestSuite


class TestDexedAdapter(AdapterTestSuite):
    """Dexed against the shared checks, with a real factory bank and a real single voice as sample files."""

    synth_id = "dexed"
    max_presets_per_file = 32

    @pytest.fixture(scope="class")
    @classmethod
    def preset_files(cls, dx7_dir: Path) -> list[Path]:
        return [dx7_dir / "Original Yamaha" / "DX7 ROM1" / "ROM1A.syx", dx7_dir / "Single Voice" / "001.syx"]


class SilentSynth(Synth):
    """A synth that renders nothing: the suite must notice."""

    id = "silent"

    def parameter_specs(self):
        return [ParameterSpec(name="level", low=0, high=10, step=1, default=5),
                ParameterSpec(name="cutoff", low=20.0, high=20000.0, default=1000.0)]

    def render(self, preset, settings):
        return np.zeros(settings.num_samples, dtype=np.float32)


def test_the_suite_catches_broken_adapters() -> None:
    suite = AdapterTestSuite()
    broken = SilentSynth()
    suite.test_specs_round_trip_exactly(broken)  # free continuous values pass within rounding error
    with pytest.raises(AssertionError, match="renders silence"):
        suite.test_default_preset_renders(broken)
    with pytest.raises(AssertionError, match="override preset_files"):
        suite.synth_id = "dexed"
        suite.test_parsers_have_sample_files([])
