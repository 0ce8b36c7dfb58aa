"""A reusable test suite that synth adapters run against themselves (see :mod:`patchflow.testing.adapter_suite`)."""

from .adapter_suite import AdapterTestSuite

__all__ = ["AdapterTestSuite"]
