"""Every Diva parameter as a patchflow :class:`~patchflow.ParameterSpec`, with where it lives in ``.h2p`` files.

Parameter names are the plugin's own (``"VCF1: Frequency"``), so the study's parameter sets and a host's
parameter list use the same words. Native values are the numbers written in ``.h2p`` files (cutoff 0-150,
envelope times 0-100, tune -24..24 semitones); categorical parameters hold a class index (a modulation source is
its position in the ``#ms`` list; an effect module is one of :data:`FX_MODULES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from patchflow import ParameterKind, ParameterSpec, ParameterTable, UnknownParameterError

from .h2p import H2pValue
from .table_data import TABLE

#: The 24 modulation sources, in the order of the ``#ms`` header lines (a ``...Src`` value indexes this list).
MOD_SOURCES: tuple[str, ...] = (
    "none", "ModWhl", "PitchW", "CtrlA", "CtrlB", "Gate", "Velocity", "Pressure", "KeyFollow", "KeyFollow2",
    "Alternate", "Random", "StackVoice", "VoiceMap", "Env1", "Env2", "LFO1", "LFO2", "Rectify", "Invert", "Quant",
    "Lag", "Adder", "Multiply",
)
#: The effect modules an FX slot can hold; ``.h2p`` files name them with the slot number (``'Plate2'``).
FX_MODULES: tuple[str, ...] = ("Chorus", "Phaser", "Plate", "Delay", "Rotary")
_CHOICE_NAMES: dict[str, tuple[str, ...]] = {
    "ENV1: Model": ("Analog", "ADS", "Digital"),
    "ENV2: Model": ("Analog", "ADS", "Digital"),
    "VCC: Mode": ("Poly", "Mono", "Legato", "Duo", "Duo Legato"),
    "OSC: Model": ("Triple VCO", "Dual VCO", "DCO", "Dual VCO Eco", "Digital"),
    "VCF1: Model": ("Ladder", "Cascade", "Multimode", "Bite", "Uhbie"),
    "HPF: Model": ("HPF", "HPF Sallen-Key", "Bite", "Off"),
}

#: The continuous-parameter sets of the Flow Synthesizer study, by name.
PAPER_PARAMETER_SETS: dict[str, tuple[str, ...]] = {
    "paper-16": (
        "ENV1: Attack", "ENV1: Decay", "ENV1: Sustain", "VCF1: Frequency", "VCF1: Resonance", "VCF1: FilterFM",
        "VCF1: Feedback", "OSC: OscMix", "OSC: Vibrato", "OSC: Tune2", "OSC: Tune3", "OSC: Shape1", "OSC: Shape2",
        "OSC: FM", "OSC: Volume2", "OSC: Volume3",
    ),
    "paper-32": (
        "ENV1: Attack", "ENV1: Decay", "ENV1: Release", "ENV1: Sustain", "ENV2: Attack", "ENV2: Decay",
        "ENV2: Release", "ENV2: Sustain", "LFO1: Delay", "LFO1: Phase", "LFO1: Rate", "LFO2: Delay", "LFO2: Phase",
        "LFO2: Rate", "OSC: FM", "OSC: NoiseVol", "OSC: Shape1", "OSC: Shape2", "OSC: Shape3", "OSC: Tune1",
        "OSC: Tune2", "OSC: Tune3", "OSC: Vibrato", "OSC: Volume2", "OSC: Volume3", "VCF1: Feedback",
        "VCF1: FilterFM", "VCF1: FreqMod2Depth", "VCF1: FreqModDepth", "VCF1: Frequency", "VCF1: KeyFollow",
        "VCF1: Resonance",
    ),
    "paper-64": (
        "Chrs1: Depth", "Chrs1: Rate", "Chrs1: Wet", "ENV1: Attack", "ENV1: Decay", "ENV1: KeyFollow",
        "ENV1: Release", "ENV1: Sustain", "ENV1: Velocity", "ENV2: Attack", "ENV2: Decay", "ENV2: KeyFollow",
        "ENV2: Release", "ENV2: Sustain", "ENV2: Velocity", "HPF: Frequency", "HPF: Resonance", "LFO1: Delay",
        "LFO1: DepthMod Dpt1", "LFO1: Phase", "LFO1: Rate", "LFO2: Delay", "LFO2: DepthMod Dpt1",
        "LFO2: FreqMod Dpt", "LFO2: Phase", "LFO2: Rate", "MOD: Slew Rate", "OSC: DigitalShape2",
        "OSC: DigitalShape4", "OSC: FM", "OSC: NoiseVol", "OSC: OscMix", "OSC: PWModDepth", "OSC: PulseWidth",
        "OSC: Shape1", "OSC: Shape2", "OSC: Shape3", "OSC: Tune1", "OSC: Tune1ModDepth", "OSC: Tune2",
        "OSC: Tune3", "OSC: Vibrato", "OSC: Volume1", "OSC: Volume2", "OSC: Volume3", "Plate1: Diffusion",
        "Plate1: Wet", "Plate2: Damp", "Plate2: Diffusion", "Plate2: Size", "Rtary1: Drive", "Rtary1: Fast",
        "VCA1: ModDepth", "VCA1: PanModDepth", "VCA1: Volume", "VCF1: Feedback", "VCF1: FilterFM",
        "VCF1: FmAmountModDepth", "VCF1: FreqMod2Depth", "VCF1: FreqModDepth", "VCF1: Frequency",
        "VCF1: KeyFollow", "VCF1: ResModDepth", "VCF1: Resonance",
    ),
}


@dataclass(frozen=True)
class DivaParameter:
    """One Diva parameter: its plugin identity, its place in ``.h2p`` files and its spec.

    Attributes:
        index: Position in the plugin's parameter list.
        section: ``.h2p`` section (``VCF1``).
        key: ``.h2p`` key inside the section (``Freq``).
        spec: The patchflow spec; ``spec.name`` is the plugin parameter name (``VCF1: Frequency``).
        code: The kind code of the table (``c``, ``i``, ``k``, ``b``, ``s``, ``fx``).
    """

    index: int
    section: str
    key: str
    spec: ParameterSpec
    code: str

    @property
    def name(self) -> str:
        """The plugin parameter name."""
        return self.spec.name

    def native_from_h2p(self, value: H2pValue) -> float:
        """The native value (class index for categorical parameters) of a value read from a ``.h2p`` file.

        Raises:
            ValueError: The value cannot be a value of this parameter (unknown effect module, text for a number).
        """
        if self.code == "fx":
            if not isinstance(value, str):
                raise ValueError(f"{self.name}: expected an effect module name, got {value!r}")
            module = value.rstrip("0123456789")
            if module not in FX_MODULES:
                raise ValueError(f"{self.name}: unknown effect module {value!r}")
            return float(FX_MODULES.index(module))
        if isinstance(value, str):
            raise ValueError(f"{self.name}: expected a number, got {value!r}")
        return float(value)

    def h2p_from_native(self, native: float) -> H2pValue:
        """The value to write in a ``.h2p`` file for a native value (clamped to the spec first)."""
        value = self.spec.clamp(native)
        if self.code == "fx":
            slot = self.section[-1]
            return f"{FX_MODULES[int(value)]}{slot}"
        if self.code == "c":
            return float(value)
        return int(value)


def _spec(name: str, section: str, code: str, default_normalised: float) -> tuple[ParameterSpec, str]:
    kind, *bounds = code.split()
    group = section
    if kind in ("c", "i"):
        low, high = float(bounds[0]), float(bounds[1])
        step = 1.0 if kind == "i" else None
        draft = ParameterSpec(name=name, low=low, high=high, step=step, default=low, group=group)
        return draft.model_copy(update={"default": round(draft.to_native(default_normalised), 2)}), kind
    if kind == "b":
        choices: tuple[str, ...] = ("off", "on")
        spec_kind = ParameterKind.BOOLEAN
    elif kind == "s":
        choices, spec_kind = MOD_SOURCES, ParameterKind.CATEGORICAL
    elif kind == "fx":
        choices, spec_kind = FX_MODULES, ParameterKind.CATEGORICAL
    else:
        count = int(bounds[0])
        choices = _CHOICE_NAMES.get(name, tuple(str(k) for k in range(count)))
        if len(choices) != count:
            raise ValueError(f"{name}: {len(choices)} choice names for {count} choices")
        spec_kind = ParameterKind.CATEGORICAL
    default = float(round(default_normalised * (len(choices) - 1)))
    return ParameterSpec(name=name, kind=spec_kind, choices=choices, default=default, group=group), kind


@lru_cache(maxsize=1)
def diva_parameters() -> tuple[DivaParameter, ...]:
    """Every Diva parameter, in plugin index order."""
    out = []
    for index, line in enumerate(row for row in TABLE.strip().splitlines() if row.strip()):
        name, section, key, code, default = line.split("|")
        spec, kind = _spec(name, section, code, float(default))
        out.append(DivaParameter(index, section, key, spec, kind))
    return tuple(out)


@lru_cache(maxsize=1)
def diva_parameter_table() -> ParameterTable:
    """The specs of every Diva parameter as a :class:`~patchflow.ParameterTable` (plugin index order)."""
    return ParameterTable(p.spec for p in diva_parameters())


def diva_parameter(name: str) -> DivaParameter:
    """One parameter by plugin name.

    Raises:
        UnknownParameterError: No Diva parameter has this name (the message suggests close ones).
    """
    return diva_parameters()[diva_parameter_table().index(name)]


def by_location() -> dict[tuple[str, str], DivaParameter]:
    """Parameters keyed by their ``(section, key)`` in ``.h2p`` files."""
    return {(p.section, p.key): p for p in diva_parameters()}


def parameter_set(name: str) -> ParameterTable:
    """A named parameter set: ``paper-16``, ``paper-32``, ``paper-64`` (``16``/``32``/``64`` also work) or ``all``.

    Raises:
        UnknownParameterError: No set has this name.
    """
    if name == "all":
        return diva_parameter_table()
    key = name if name in PAPER_PARAMETER_SETS else f"paper-{name}"
    if key not in PAPER_PARAMETER_SETS:
        known = ", ".join([*PAPER_PARAMETER_SETS, "all"])
        raise UnknownParameterError(f"unknown Diva parameter set {name!r}; known sets: {known}")
    return diva_parameter_table().subset(PAPER_PARAMETER_SETS[key])
