"""A pytest suite every synth adapter can run against itself.

Subclass :class:`AdapterTestSuite` in a test module of the adapter, name the synth, and point it at a few real
preset files; pytest then runs every check below against the installed adapter::

    # tests/test_mysynth_adapter_suite.py
    import pytest
    from patchflow.testing import AdapterTestSuite

    class TestMySynth(AdapterTestSuite):
        synth_id = "mysynth"
        max_presets_per_file = 32  # what one file of the synth's own format can hold

        @pytest.fixture(scope="class")
        @classmethod
        def preset_files(cls):
            return [Path(__file__).parent / "data" / "factory.mysynth"]

The checks:

* the synth is found through the plugin registry under ``synth_id``;
* its parameter specs are sane (unique, non-empty names; defaults valid) and map native <-> normalised exactly:
  every value of a grid (up to :attr:`~AdapterTestSuite.grid_limit` values per parameter) and every class comes
  back unchanged (continuous values without a grid to within rounding error), ends map to 0 and 1, the
  vectorised table agrees with the per-spec maps, specs survive JSON;
* the default preset is valid and renders non-silent, finite, mono ``float32`` audio of the requested length;
* rendering is deterministic (twice the same preset gives the same samples, and a render in between does not
  leak into the next one);
* :meth:`~patchflow.Synth.render_vectors` (the dataset builder's path) gives the same audio as rendering the same
  values as presets, and reports a row holding NaN as a :class:`~patchflow.RenderError` without stopping;
* every preset file given is read by the adapter's parsers, and every writer of the synth writes presets that
  read back identical (values, name).

Every check asserts; nothing is skipped. An adapter with parsers but no sample files fails
``test_parsers_have_sample_files``: give it real files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ..parameters import ParameterKind, ParameterSpec, ParameterTable
from ..presets import Preset
from ..synth import RenderSettings, Synth


class AdapterTestSuite:
    """Base class of an adapter's self-test (see the module docstring for how to use it).

    Attributes:
        synth_id: Id the adapter registers its synth under.
        render_settings: How the render checks play a note (short, to keep the suite fast).
        silence_threshold: Peak amplitude below which a rendering counts as silent.
        grid_limit: Largest number of grid values checked per parameter (evenly spread, ends included).
        max_presets_per_file: How many presets one file of the synth's formats holds (``None``: no limit); the
            write round trip writes at most that many.
    """

    synth_id: str = ""
    render_settings: RenderSettings = RenderSettings(note=60, velocity=100, note_seconds=0.5, total_seconds=1.0,
                                                     sample_rate=22050)
    silence_threshold: float = 1e-4
    grid_limit: int = 2000
    max_presets_per_file: int | None = None

    # ----------------------------------------------------------------------------------------------- fixtures
    @pytest.fixture(scope="class")
    @classmethod
    def synth(cls) -> Synth:
        """The adapter's synth, created through the plugin registry."""
        from ..plugins import get_synth

        assert cls.synth_id, f"{cls.__name__} must set synth_id"
        instance = get_synth(cls.synth_id)
        yield instance
        instance.close()

    @pytest.fixture(scope="class")
    @classmethod
    def preset_files(cls) -> Sequence[Path]:
        """Real preset files of the synth's formats; override in the subclass."""
        return []

    # ------------------------------------------------------------------------------------------- registration
    def test_registered(self, synth: Synth) -> None:
        """The synth comes from the registry with the id it was asked for."""
        from ..plugins import synth_classes

        assert synth.id == self.synth_id
        assert synth_classes()[self.synth_id] is type(synth)

    # ------------------------------------------------------------------------------------------------- specs
    def test_specs_are_sane(self, synth: Synth) -> None:
        """Names are unique and clean, kinds consistent, defaults valid."""
        specs = list(synth.parameter_specs())
        assert specs, "a synth needs at least one parameter"
        names = [s.name for s in specs]
        assert len(set(names)) == len(names), "parameter names must be unique"
        for spec in specs:
            assert isinstance(spec, ParameterSpec)
            assert spec.name == spec.name.strip() and spec.name, f"bad name {spec.name!r}"
            assert spec.in_range(spec.default), f"{spec.name}: default {spec.default} is not a valid value"
            if spec.kind is ParameterKind.CONTINUOUS:
                assert spec.cardinality == 0 and spec.low < spec.high
            else:
                assert spec.cardinality == len(spec.choices) >= 2

    def test_specs_round_trip_exactly(self, synth: Synth) -> None:
        """native -> normalised -> native is the identity on every grid value and class."""
        failures: list[str] = []
        for spec in synth.parameter_specs():
            # values on a grid or classes come back exactly; free continuous values to rounding error
            tolerance = 0.0 if spec.step is not None or not spec.is_continuous else 1e-9 * (spec.high - spec.low)
            for value in _grid(spec, self.grid_limit):
                u = spec.to_normalised(value)
                back = spec.to_native(u)
                if not 0.0 <= u <= 1.0 or abs(back - value) > tolerance:
                    failures.append(f"{spec.name}: {value!r} -> {u!r} -> {back!r}")
            if spec.to_normalised(spec.native_low) != 0.0 or spec.to_normalised(spec.native_high) != 1.0:
                failures.append(f"{spec.name}: the ends do not map to 0 and 1")
        assert not failures, "inexact round trips:\n" + "\n".join(failures[:20])

    def test_table_matches_specs(self, synth: Synth) -> None:
        """The vectorised table maps exactly like the individual specs, and specs survive JSON."""
        table = synth.parameters
        rng = np.random.default_rng(0)
        u = rng.random((64, len(table)))
        native = table.to_native(u)
        expected = np.array([[spec.to_native(x) for spec, x in zip(table, row)] for row in u])
        np.testing.assert_array_equal(native, expected)
        np.testing.assert_array_equal(table.to_native(table.to_normalised(native)), native)
        again = ParameterTable.from_json(table.to_json())
        assert list(again) == list(table)

    # ------------------------------------------------------------------------------------------------ render
    def test_default_preset_is_valid(self, synth: Synth) -> None:
        """The default preset belongs to the synth and sets only valid values of known parameters."""
        preset = synth.default_preset()
        assert preset.synth == self.synth_id
        table = synth.parameters
        unknown = sorted(set(preset.values) - set(table.names))
        assert not unknown, f"default preset sets unknown parameters: {unknown}"
        invalid = [n for n, v in preset.values.items() if not table[n].in_range(v)]
        assert not invalid, f"default preset holds invalid values: {invalid}"

    def test_default_preset_renders(self, synth: Synth) -> None:
        """Non-silent, finite, mono float32 audio of exactly the requested length."""
        settings = self.render_settings
        audio = synth.render(synth.default_preset(), settings)
        assert isinstance(audio, np.ndarray)
        assert audio.dtype == np.float32, f"dtype {audio.dtype}, expected float32"
        assert audio.ndim == 1, f"shape {audio.shape}, expected mono"
        assert audio.shape[0] == settings.num_samples
        assert np.all(np.isfinite(audio))
        assert float(np.max(np.abs(audio))) > self.silence_threshold, "the default preset renders silence"

    def test_render_is_deterministic(self, synth: Synth) -> None:
        """Same preset, same samples; a different preset rendered in between changes nothing."""
        settings = self.render_settings
        first = synth.default_preset()
        rng = np.random.default_rng(1)
        other = first.with_values(synth.parameters, synth.parameters.to_native(rng.random(len(synth.parameters))))
        a = synth.render(first, settings)
        b = synth.render(other, settings)
        again = synth.render(first, settings)
        np.testing.assert_array_equal(a, again)
        assert b.shape == a.shape

    def test_render_vectors_matches_render(self, synth: Synth) -> None:
        """Rows of native values render as the same values given as presets; a NaN row fails alone."""
        settings = self.render_settings
        table = synth.parameters
        rng = np.random.default_rng(2)
        default = synth.default_preset().vector(table)
        rows = np.stack([default, table.to_native(rng.random(len(table))), default])
        rows[2, 0] = np.nan
        results = list(synth.render_vectors(rows, settings))
        assert len(results) == 3
        for row, result in zip(rows[:2], results[:2]):
            expected = synth.render(synth.default_preset().with_values(table, row), settings)
            assert isinstance(result, np.ndarray), f"a valid row failed: {result}"
            np.testing.assert_array_equal(result, expected)
        from ..errors import RenderError

        assert isinstance(results[2], RenderError), "a row holding NaN must yield a RenderError"

    # ------------------------------------------------------------------------------------------ preset files
    def test_parsers_have_sample_files(self, preset_files: Sequence[Path]) -> None:
        """An adapter that reads preset files provides real ones to test with."""
        from ..plugins import ANY_SYNTH, preset_parsers

        own = [p.name for p in preset_parsers(self.synth_id) if p.synth != ANY_SYNTH]
        if own:
            assert preset_files, f"{self.synth_id} has preset parsers ({', '.join(own)}): override preset_files"
        for path in preset_files:
            assert Path(path).is_file(), f"sample preset file missing: {path}"

    def test_presets_round_trip_through_writers(self, synth: Synth, preset_files: Sequence[Path],
                                                tmp_path: Path) -> None:
        """Every sample file parses, and every writer's output reads back with identical values and names."""
        from ..plugins import parse_preset_file, preset_writers

        table = synth.parameters
        writers = preset_writers(self.synth_id)
        for path in preset_files:
            result = parse_preset_file(path, self.synth_id)
            assert result.presets, f"{path}: no preset read"
            presets = result.presets[: self.max_presets_per_file]
            for preset in presets:
                assert preset.synth == self.synth_id
            for writer in writers:
                target = tmp_path / f"{Path(path).stem}.{writer.name}{writer.suffixes[0]}"
                written = writer.write(presets, target)
                back = parse_preset_file(written, self.synth_id).presets
                assert len(back) >= len(presets), f"{writer.name}: {len(back)} presets read, wrote {len(presets)}"
                for before, after in zip(presets, back):
                    _assert_same_preset(before, after, table, writer.name)


def _grid(spec: ParameterSpec, limit: int) -> list[float]:
    """Valid native values of a spec: every class, or up to ``limit`` grid points (ends included)."""
    if not spec.is_continuous:
        return [float(k) for k in range(spec.cardinality)]
    if spec.step is not None:
        count = int(round((spec.high - spec.low) / spec.step)) + 1
        steps = np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(np.int64))
        return [spec.clamp(spec.low + int(k) * spec.step) for k in steps]
    return [float(x) for x in np.linspace(spec.low, spec.high, min(limit, 101))]


def _assert_same_preset(before: Preset, after: Preset, table: ParameterTable, writer: str) -> None:
    np.testing.assert_array_equal(after.vector(table), before.vector(table),
                                  err_msg=f"{writer}: values of {before.name!r} changed in a write/read round trip")
    assert after.name == before.name, f"{writer}: name {before.name!r} came back as {after.name!r}"
