"""The generic VST3 adapter and the Diva adapter, for real, on the project's own VST3 test instrument.

The instrument is built from ``tests/vst3-instrument`` by ``make vst3-instrument``. In CI (``CI=true``) ``make test``
builds it and sets ``PATCHFLOW_REQUIRE_VST3=1``, so a missing instrument fails there; elsewhere these tests skip
with a message saying how to enable them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import patchflow
from patchflow import ParameterKind, Preset, RenderSettings, UnknownParameterError
from patchflow.plugins import reset as reset_plugins
from patchflow_diva.synth import DivaSynth
from patchflow_vst3 import InstrumentNotFoundError, Vst3Synth, configured_plugins, on_host_thread
from vst3_test_instrument import instrument_path

SR = 22050
ONE_SECOND = RenderSettings(note_seconds=0.75, total_seconds=1.0)


@pytest.fixture(scope="module")
def instrument() -> Path:
    return instrument_path()


@pytest.fixture(scope="module")
def synth(instrument: Path) -> Vst3Synth:
    return Vst3Synth(instrument)


@pytest.fixture(scope="module")
def registered(instrument: Path):
    """The instrument configured as ``vst3:testsynth`` through ``PATCHFLOW_VST3_PLUGINS``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATCHFLOW_VST3_PLUGINS", f"testsynth={instrument}")
        reset_plugins()
        yield "vst3:testsynth"
    reset_plugins()


def render(synth: Vst3Synth, seconds: float = 1.0, **values: float) -> np.ndarray:
    preset = Preset(synth=synth.id, values={name.replace("__", ": "): v for name, v in values.items()})
    return synth.render(preset, RenderSettings(note=57, note_seconds=seconds * 0.75, total_seconds=seconds,
                                               sample_rate=SR))


def centroid(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(audio.size, 1 / SR)
    return float((spectrum * freqs).sum() / spectrum.sum())


def onset_seconds(audio: np.ndarray, fraction: float = 0.5) -> float:
    envelope = np.abs(audio)
    return float(np.argmax(envelope >= fraction * envelope.max()) / SR)


def test_parameters_are_discovered_from_the_plugin(synth):
    table = synth.parameters
    assert table.names == ["main: Output", "ENV1: Attack", "ENV1: Decay", "ENV1: Sustain", "ENV1: Release",
                           "VCF1: Frequency", "VCF1: Resonance", "OSC: Tune1", "OSC: Waveform"]
    assert "Bypass" not in table
    assert (table["VCF1: Frequency"].low, table["VCF1: Frequency"].high) == (0.0, 150.0)
    assert table["VCF1: Frequency"].default == 100.0 and table["ENV1: Sustain"].default == 80.0
    assert table["OSC: Tune1"].low == -24.0 and table["OSC: Tune1"].default == 0.0
    waveform = table["OSC: Waveform"]
    assert waveform.kind is ParameterKind.CATEGORICAL and waveform.choices == ("Saw", "Square", "Triangle")


def test_setting_parameters_by_name_or_attribute_snaps_to_the_plugin_grid(synth):
    synth.set_parameter("ENV1: Attack", 12.345)
    value = synth.plugin.env1_attack
    assert abs(value - 12.345) <= 0.005 + 1e-6 and round(value, 2) == pytest.approx(value)
    synth.set_parameter("vcf1_frequency", 500.0)  # pedalboard's attribute name works too; clamped to the range
    assert synth.plugin.vcf1_frequency == pytest.approx(150.0)
    synth.set_parameter("OSC: Waveform", 2)
    assert synth.plugin.osc_waveform == "Triangle"


def test_a_misspelled_parameter_is_an_error(synth):
    synth.plugin.vcf1_frequncy = 3.0  # pedalboard silently accepts this and changes nothing...
    with pytest.raises(UnknownParameterError, match="did you mean VCF1: Frequency"):
        synth.set_parameter("VCF1: Frequncy", 3.0)  # ...the adapter refuses it
    with pytest.raises(UnknownParameterError, match="vcf1_frequncy"):
        render(synth, vcf1_frequncy=3.0)


def test_render_is_mono_float32_of_the_requested_length_and_matches_the_stereo_mix(synth):
    audio = render(synth, 1.0)
    assert audio.dtype == np.float32 and audio.shape == (SR,) and np.isfinite(audio).all()
    assert np.abs(audio).max() > 0.01
    stereo = on_host_thread(synth.plugin, [(bytes([0x90, 57, 100]), 0.0), (bytes([0x80, 57, 0]), 0.75)],
                            duration=1.0, sample_rate=SR, num_channels=2, buffer_size=8192, reset=True)
    assert stereo.shape == (2, SR)
    np.testing.assert_allclose(audio, stereo.mean(axis=0), atol=1e-7)
    silent_tail = synth.render(Preset(synth=synth.id, values={"ENV1: Release": 0.0}),
                               RenderSettings(note_seconds=0.25, total_seconds=1.0, sample_rate=SR))
    assert np.abs(silent_tail[int(0.5 * SR):]).max() < 1e-6, "the note stops after its release"


def test_cutoff_raises_the_spectral_centroid(synth):
    centroids = [centroid(render(synth, 1.0, VCF1__Frequency=f)) for f in (40.0, 80.0, 120.0)]
    assert centroids[0] < centroids[1] < centroids[2]
    assert centroids[2] > 2 * centroids[0]


def test_attack_delays_the_onset(synth):
    fast = onset_seconds(render(synth, 1.5, ENV1__Attack=0.0))
    slow = onset_seconds(render(synth, 1.5, ENV1__Attack=50.0))  # about half a second
    assert fast < 0.01 and 0.2 < slow < 0.8


def peak_hz(audio: np.ndarray) -> float:
    return float(np.fft.rfftfreq(audio.size, 1 / SR)[np.argmax(np.abs(np.fft.rfft(audio)))])


def test_tune_and_waveform_change_the_sound(synth):
    base = render(synth, 1.0, VCF1__Frequency=150.0)
    up = render(synth, 1.0, VCF1__Frequency=150.0, OSC__Tune1=12.0)
    assert peak_hz(base) == pytest.approx(220.0, rel=0.02)  # note 57 is A3
    assert peak_hz(up) == pytest.approx(440.0, rel=0.02)
    assert not np.allclose(render(synth, 1.0, VCF1__Frequency=150.0, OSC__Waveform=1), base)


def test_worker_threads_render_through_the_host_thread(instrument):
    from concurrent.futures import ThreadPoolExecutor

    def job(attack: float) -> np.ndarray:
        return render(Vst3Synth(instrument), 1.0, ENV1__Attack=attack)  # a synth made and used off the main thread

    with ThreadPoolExecutor(2) as pool:
        a1, b, a2 = pool.map(job, [0.0, 40.0, 0.0])
    np.testing.assert_array_equal(a1, a2)
    assert onset_seconds(b) > onset_seconds(a1) + 0.1


def test_rendering_is_deterministic_and_leaks_no_state(synth):
    a1 = render(synth, 1.0, VCF1__Frequency=60.0)
    b = render(synth, 1.0, VCF1__Frequency=130.0, ENV1__Attack=30.0)
    a2 = render(synth, 1.0, VCF1__Frequency=60.0)
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, b)


def test_bad_render_requests_are_clear_errors(synth):
    """The settings refuse them when they are made, so no bad request reaches the plugin."""
    with pytest.raises(ValueError, match="note"):
        synth.render(Preset(synth=synth.id), RenderSettings(note=200))
    with pytest.raises(ValueError, match="note_seconds"):
        synth.render(Preset(synth=synth.id), RenderSettings(note_seconds=5.0, total_seconds=1.0))


def test_missing_or_broken_plugins_are_clear_errors(tmp_path):
    with pytest.raises(InstrumentNotFoundError, match="not found"):
        Vst3Synth(tmp_path / "Nope.vst3").render(Preset(synth="vst3"), RenderSettings())
    fake = tmp_path / "Fake.vst3"
    fake.write_text("not a plugin")
    with pytest.raises(InstrumentNotFoundError, match="cannot load"):
        Vst3Synth(fake).parameters


def test_plugins_are_configured_by_variable_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHFLOW_CONFIG_DIR", str(tmp_path))
    (tmp_path / "vst3.toml").write_text('[plugins]\nfromfile = "~/synths/A.vst3"\nboth = "/a/B.vst3"\n')
    monkeypatch.setenv("PATCHFLOW_VST3_PLUGINS", os.pathsep.join(["both=/b/B.vst3", "bad entry", "c=/c/C.vst3"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = configured_plugins()
    assert found == {"fromfile": Path("~/synths/A.vst3").expanduser(), "both": Path("/b/B.vst3"),
                     "c": Path("/c/C.vst3")}
    assert any("bad entry" in str(w.message) for w in caught)


def test_registered_synth_renders_json_presets(registered, tmp_path):
    synth = patchflow.get_synth(registered)
    assert synth.id == registered and len(synth.parameters) == 9
    presets = [Preset(synth=registered, name=f"cutoff {f:g}", values={"VCF1: Frequency": f, "ENV1: Attack": 5.0})
               for f in (50.0, 110.0)]
    path = patchflow.write_presets(presets, tmp_path / "two.preset.json")
    read = patchflow.parse_preset_file(path).presets
    assert [p.values for p in read] == [p.values for p in presets]
    dark, bright = (synth.render(p, ONE_SECOND) for p in read)
    assert centroid(bright) > centroid(dark)


def test_a_dataset_builds_from_json_presets_of_the_instrument(registered, tmp_path):
    from patchflow.data.build import BuildOptions, build_store

    rng = np.random.default_rng(3)
    table = patchflow.get_synth(registered).parameters
    learned = ["ENV1: Attack", "VCF1: Frequency", "VCF1: Resonance", "OSC: Tune1"]
    presets = [Preset(synth=registered, name=f"random {i}", tags={"Bright/Dark": "Bright" if i % 2 else "Dark"},
                      values={name: float(table[name].to_native(u)) for name, u in zip(learned, rng.random(4))})
               for i in range(12)]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    patchflow.write_presets(presets, corpus / "random.preset.json")
    names = tmp_path / "params.txt"
    names.write_text("\n".join(learned) + "\n")
    settings = RenderSettings(note=60, note_seconds=0.5, total_seconds=0.75)
    store = build_store(registered, [corpus], tmp_path / "store.zarr",
                        BuildOptions(params=str(names), settings=settings), workers=1)
    assert store.synth_id == registered and store.parameters.names == learned
    assert len(store) == 12 and bool(np.all(store.ok))
    assert list(store.tag_pairs) == ["Bright/Dark"]
    audio = store.audio(0)
    assert audio.shape == (settings.num_samples,) and np.abs(audio).max() > 0.001
    assert np.isfinite(np.asarray(store.mel[:])).all()


def test_diva_synth_drives_the_instrument_with_real_h2p_presets(instrument, diva_dir):
    diva = DivaSynth(instrument)
    preset = patchflow.parse_preset_file(diva_dir / "presets" / "instatetragrammaton" / "Bellatrix.h2p").presets[0]
    audio = diva.render(preset, ONE_SECOND)
    assert len(diva.bindings()) == 8 and "VCF1: Model" in diva.missing_parameters
    assert len(diva.missing_parameters) == 281 - 8
    assert diva.plugin.vcf1_frequency == pytest.approx(preset.values["VCF1: Frequency"], abs=0.01)
    assert diva.plugin.osc_tune1 == pytest.approx(preset.values["OSC: Tune1"], abs=0.01)
    darker = preset.model_copy(update={"values": {**preset.values, "VCF1: Frequency": 30.0}})
    assert centroid(diva.render(darker, ONE_SECOND)) < centroid(audio)
    with pytest.raises(UnknownParameterError):
        diva.render(Preset(synth="diva", values={"VCF1: Frequncy": 1.0}), RenderSettings())


def test_diva_without_the_plugin_still_reads_and_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHFLOW_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("PATCHFLOW_DIVA_PATH", raising=False)
    diva = DivaSynth()
    if diva._path is not None:  # a real Diva is installed on this machine: point it away
        diva = DivaSynth(tmp_path / "Diva.vst3")
        with pytest.raises(InstrumentNotFoundError, match="not found"):
            diva.render(diva.default_preset(), RenderSettings())
        return
    assert len(diva.parameters) == 281 and diva.default_preset().values["VCF1: Frequency"] == 87.5
    with pytest.raises(InstrumentNotFoundError, match="PATCHFLOW_DIVA_PATH"):
        diva.render(diva.default_preset(), RenderSettings())
