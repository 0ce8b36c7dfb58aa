"""The 145 non-name parameters of a DX7 voice as patchflow specs, and their place in a VCED voice.

Names use operators 1-6 as the DX7 front panel numbers them (``op1_output_level``). In the 155-byte VCED voice
(single-voice sysex, "unpacked") operator 6 comes first; :data:`VCED_OFFSETS` gives each parameter's byte.
"""

from __future__ import annotations

from patchflow import ParameterKind, ParameterSpec

CURVES = ("-lin", "-exp", "+exp", "+lin")
LFO_WAVES = ("triangle", "saw down", "saw up", "square", "sine", "sample & hold")
FREQUENCY_MODES = ("ratio", "fixed")
ALGORITHMS = tuple(f"algorithm {i}" for i in range(1, 33))

#: Per-operator fields in VCED order: (field, max, kind, choices, default, description)
_OPERATOR_FIELDS: list[tuple[str, int, ParameterKind, tuple[str, ...], int, str]] = [
    ("env_rate1", 99, ParameterKind.CONTINUOUS, (), 99, "envelope rate 1 (attack)"),
    ("env_rate2", 99, ParameterKind.CONTINUOUS, (), 99, "envelope rate 2 (decay 1)"),
    ("env_rate3", 99, ParameterKind.CONTINUOUS, (), 99, "envelope rate 3 (decay 2)"),
    ("env_rate4", 99, ParameterKind.CONTINUOUS, (), 99, "envelope rate 4 (release)"),
    ("env_level1", 99, ParameterKind.CONTINUOUS, (), 99, "envelope level 1"),
    ("env_level2", 99, ParameterKind.CONTINUOUS, (), 99, "envelope level 2"),
    ("env_level3", 99, ParameterKind.CONTINUOUS, (), 99, "envelope level 3 (sustain)"),
    ("env_level4", 99, ParameterKind.CONTINUOUS, (), 0, "envelope level 4 (end)"),
    ("breakpoint", 99, ParameterKind.CONTINUOUS, (), 39, "keyboard level-scaling break point (39 = C3)"),
    ("left_depth", 99, ParameterKind.CONTINUOUS, (), 0, "level-scaling depth below the break point"),
    ("right_depth", 99, ParameterKind.CONTINUOUS, (), 0, "level-scaling depth above the break point"),
    ("left_curve", 3, ParameterKind.CATEGORICAL, CURVES, 0, "level-scaling curve below the break point"),
    ("right_curve", 3, ParameterKind.CATEGORICAL, CURVES, 0, "level-scaling curve above the break point"),
    ("rate_scaling", 7, ParameterKind.CONTINUOUS, (), 0, "keyboard rate scaling"),
    ("amp_mod_sensitivity", 3, ParameterKind.CONTINUOUS, (), 0, "amplitude-modulation sensitivity"),
    ("velocity_sensitivity", 7, ParameterKind.CONTINUOUS, (), 0, "key-velocity sensitivity"),
    ("output_level", 99, ParameterKind.CONTINUOUS, (), 99, "output level"),
    ("frequency_mode", 1, ParameterKind.CATEGORICAL, FREQUENCY_MODES, 0, "oscillator mode"),
    ("frequency_coarse", 31, ParameterKind.CONTINUOUS, (), 1, "coarse frequency (ratio 0.5, 1-31)"),
    ("frequency_fine", 99, ParameterKind.CONTINUOUS, (), 0, "fine frequency"),
    ("detune", 14, ParameterKind.CONTINUOUS, (), 7, "detune (7 = centre)"),
]

#: Global fields in VCED order (bytes 126-144).
_GLOBAL_FIELDS: list[tuple[str, int, ParameterKind, tuple[str, ...], int, str]] = [
    ("pitch_env_rate1", 99, ParameterKind.CONTINUOUS, (), 99, "pitch envelope rate 1"),
    ("pitch_env_rate2", 99, ParameterKind.CONTINUOUS, (), 99, "pitch envelope rate 2"),
    ("pitch_env_rate3", 99, ParameterKind.CONTINUOUS, (), 99, "pitch envelope rate 3"),
    ("pitch_env_rate4", 99, ParameterKind.CONTINUOUS, (), 99, "pitch envelope rate 4"),
    ("pitch_env_level1", 99, ParameterKind.CONTINUOUS, (), 50, "pitch envelope level 1 (50 = no shift)"),
    ("pitch_env_level2", 99, ParameterKind.CONTINUOUS, (), 50, "pitch envelope level 2"),
    ("pitch_env_level3", 99, ParameterKind.CONTINUOUS, (), 50, "pitch envelope level 3"),
    ("pitch_env_level4", 99, ParameterKind.CONTINUOUS, (), 50, "pitch envelope level 4"),
    ("algorithm", 31, ParameterKind.CATEGORICAL, ALGORITHMS, 0, "operator algorithm"),
    ("feedback", 7, ParameterKind.CONTINUOUS, (), 0, "operator feedback"),
    ("osc_key_sync", 1, ParameterKind.BOOLEAN, ("off", "on"), 1, "oscillator key sync"),
    ("lfo_speed", 99, ParameterKind.CONTINUOUS, (), 35, "LFO speed"),
    ("lfo_delay", 99, ParameterKind.CONTINUOUS, (), 0, "LFO delay"),
    ("lfo_pitch_mod_depth", 99, ParameterKind.CONTINUOUS, (), 0, "LFO pitch-modulation depth"),
    ("lfo_amp_mod_depth", 99, ParameterKind.CONTINUOUS, (), 0, "LFO amplitude-modulation depth"),
    ("lfo_sync", 1, ParameterKind.BOOLEAN, ("off", "on"), 0, "LFO key sync"),
    ("lfo_wave", 5, ParameterKind.CATEGORICAL, LFO_WAVES, 4, "LFO waveform"),
    ("pitch_mod_sensitivity", 7, ParameterKind.CONTINUOUS, (), 0, "pitch-modulation sensitivity"),
    ("transpose", 48, ParameterKind.CONTINUOUS, (), 24, "transpose in semitones (24 = C3, no shift)"),
]


def _spec(name: str, maximum: int, kind: ParameterKind, choices: tuple[str, ...], default: int,
          description: str, group: str) -> ParameterSpec:
    if kind is ParameterKind.CONTINUOUS:
        return ParameterSpec(name=name, kind=kind, low=0, high=maximum, step=1, default=default, group=group,
                             description=description)
    return ParameterSpec(name=name, kind=kind, choices=choices, default=default, group=group,
                         description=description)


def _build() -> tuple[list[ParameterSpec], dict[str, int]]:
    specs: list[ParameterSpec] = []
    offsets: dict[str, int] = {}
    for op in range(1, 7):
        base = (6 - op) * 21  # VCED stores operator 6 first
        for position, (field, maximum, kind, choices, default, description) in enumerate(_OPERATOR_FIELDS):
            name = f"op{op}_{field}"
            specs.append(_spec(name, maximum, kind, choices, default, f"operator {op} {description}",
                               f"operator {op}"))
            offsets[name] = base + position
    for position, (field, maximum, kind, choices, default, description) in enumerate(_GLOBAL_FIELDS):
        specs.append(_spec(field, maximum, kind, choices, default, description, "global"))
        offsets[field] = 126 + position
    return specs, offsets


#: Every DX7 voice parameter (operators 1-6, then the globals), 145 in all.
DX7_PARAMETERS, VCED_OFFSETS = _build()
#: Parameter names in VCED byte order (position ``i`` is byte ``i`` of a voice).
VCED_ORDER: list[str] = sorted(VCED_OFFSETS, key=VCED_OFFSETS.__getitem__)
#: Native maximum of each VCED byte 0-144.
VCED_MAXIMA: list[int] = [int(next(s for s in DX7_PARAMETERS if s.name == n).native_high) for n in VCED_ORDER]

assert len(DX7_PARAMETERS) == 145 and VCED_ORDER == [VCED_ORDER[i] for i in range(145)]
