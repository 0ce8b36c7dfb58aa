"""patchflow adapter for u-he Diva, rendered through pedalboard by the generic VST3 adapter (``patchflow_vst3``).

* :mod:`.h2p` reads and writes ``.h2p`` files losslessly; :mod:`.formats` turns them into patchflow presets;
* :mod:`.parameters` is the Diva parameter table and the Flow Synthesizer study's parameter sets;
* :mod:`.tags` extracts the semantic tag pairs; :mod:`.midi` is the MIDI mapping;
* :mod:`.synth` is Diva on top of :class:`patchflow_vst3.Vst3Synth`.
"""

from .formats import DivaH2pParser, DivaH2pWriter, document_from_preset, preset_from_document
from .h2p import H2pDocument, parse_h2p, read_h2p
from .midi import MidiMapping, load_midi_mapping
from .parameters import PAPER_PARAMETER_SETS, diva_parameter_table, diva_parameters, parameter_set
from .synth import DivaSynth
from .tags import TAG_PAIRS, tag_pair_vector, tag_pairs

__all__ = [
    "PAPER_PARAMETER_SETS",
    "TAG_PAIRS",
    "DivaH2pParser",
    "DivaH2pWriter",
    "DivaSynth",
    "H2pDocument",
    "MidiMapping",
    "diva_parameter_table",
    "diva_parameters",
    "document_from_preset",
    "load_midi_mapping",
    "parameter_set",
    "parse_h2p",
    "preset_from_document",
    "read_h2p",
    "tag_pair_vector",
    "tag_pairs",
]
