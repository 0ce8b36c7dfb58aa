"""The run-time layer: what evaluation and the applications share on the way from a sound to a preset.

audio -> features (:mod:`patchflow.data.features`) -> a loaded :class:`Run` -> inference
(:mod:`~patchflow.runtime.inference`) -> candidate parameters -> renders (:mod:`~patchflow.runtime.rendering`) ->
audio distances (:mod:`~patchflow.runtime.distances`), nearest-neighbour retrieval
(:mod:`~patchflow.runtime.retrieval`) and the synth-in-the-loop search (:mod:`~patchflow.runtime.search`).

It sits above training, the models and the data layer, and below evaluation and the applications.
"""

from .run import Run, load_run

__all__ = ["Run", "load_run"]
