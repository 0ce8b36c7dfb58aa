"""Where the project's VST3 test instrument is (built by `make vst3-instrument`), for the tests that host it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = ROOT / "build" / "vst3" / "PatchflowTestSynth_artefacts" / "Release" / "VST3" / "PatchflowTestSynth.vst3"


def instrument_path() -> Path:
    """The built instrument (``PATCHFLOW_TEST_VST3`` or the default build folder).

    When it is missing the calling test skips with a message saying how to build it, or fails when
    ``PATCHFLOW_REQUIRE_VST3=1`` (as in CI, which builds it first).
    """
    path = Path(os.environ.get("PATCHFLOW_TEST_VST3") or DEFAULT_BUNDLE)
    if not path.exists():
        message = f"VST3 test instrument not built ({path}); run `make vst3-instrument` to enable these tests"
        if os.environ.get("PATCHFLOW_REQUIRE_VST3") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
