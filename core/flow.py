"""The flow contract, :class:`Flow`: an invertible map with a tractable log-determinant.

It is defined in the standalone flow library (:mod:`patchflow.flows.base`), which imports nothing else of
patchflow, and named here beside the other contracts (``Synth``, ``Dataset``, ``Encoder``).
"""

from patchflow.flows.base import Flow

__all__ = ["Flow"]
