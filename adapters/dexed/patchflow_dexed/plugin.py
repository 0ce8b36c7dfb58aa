"""Hook implementations registering Dexed with patchflow (the ``dexed`` entry point)."""

from __future__ import annotations

from pathlib import Path

from patchflow import hookimpl

#: The pretrained matcher bundle `patchflow match SOUND --synth dexed` uses: package data (see pretrained/README.md).
PRETRAINED = Path(__file__).resolve().parent / "pretrained"
#: How to make it when it is missing.
RECIPE = ("run `make pretrained` in patchflow's source tree (scripts/pretrained_dexed.sh: the shared DX7 corpus, "
          "about 30 minutes on 2 cores; an editable install sees the bundle at once, a regular one after "
          "reinstalling patchflow-dexed)")


@hookimpl
def register_synths(register):
    from .synth import DexedSynth

    register(DexedSynth)


@hookimpl
def register_preset_parsers(register):
    from .formats import Dx7SysexParser

    register(Dx7SysexParser())


@hookimpl
def register_preset_writers(register):
    from .formats import Dx7SysexWriter

    register(Dx7SysexWriter())


@hookimpl
def register_matchers(register):
    register("dexed", PRETRAINED, recipe=RECIPE)
