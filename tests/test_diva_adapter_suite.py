"""patchflow's adapter test suite run on the Diva adapter and on a configured VST3 synth.

Both render the project's VST3 test instrument: Diva through ``PATCHFLOW_DIVA_PATH`` (the instrument has 8 of Diva's
parameters, named like Diva's), the generic adapter through ``PATCHFLOW_VST3_PLUGINS``. Without the built instrument
these skip locally and fail in CI (see ``tests/test_vst3_instrument.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from patchflow.plugins import reset as reset_plugins
from patchflow.testing import AdapterTestSuite
from vst3_test_instrument import instrument_path


class TestDivaAdapter(AdapterTestSuite):
    synth_id = "diva"
    max_presets_per_file = 1  # a .h2p file holds one preset

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _diva_is_the_test_instrument(cls):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PATCHFLOW_DIVA_PATH", str(instrument_path()))
            yield

    @pytest.fixture(scope="class")
    @classmethod
    def preset_files(cls, diva_dir: Path) -> list[Path]:
        presets = diva_dir / "presets"
        return [presets / "instatetragrammaton" / "Bellatrix.h2p",
                presets / "randomizer-generated" / "PD Current Plum Evy.h2p"]


    def test_presets_round_trip_through_writers(self, synth, preset_files, tmp_path) -> None:
        """As the suite's check, except that a ``.h2p`` preset's name is its file name (the format stores none):
        values and bytes must survive, and the JSON writer must keep the name."""
        import numpy as np

        from patchflow.plugins import parse_preset_file, preset_writers

        table = synth.parameters
        for path in preset_files:
            preset = parse_preset_file(path, self.synth_id).presets[0]
            for writer in preset_writers(self.synth_id):
                written = writer.write([preset], tmp_path / f"{path.stem}.{writer.name}{writer.suffixes[0]}")
                back = parse_preset_file(written, self.synth_id).presets[0]
                np.testing.assert_array_equal(back.vector(table), preset.vector(table), err_msg=writer.name)
                if writer.name == "diva-h2p":
                    assert back.name == written.stem and written.read_bytes() == path.read_bytes()
                else:
                    assert back.name == preset.name and back.tags == preset.tags


class TestVst3Adapter(AdapterTestSuite):
    synth_id = "vst3:testsynth"

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _configured(cls):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PATCHFLOW_VST3_PLUGINS", f"testsynth={instrument_path()}")
            reset_plugins()
            yield
        reset_plugins()
