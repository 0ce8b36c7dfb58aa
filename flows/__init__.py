"""Exact, fast normalizing flows: building blocks, IAF/MAF stacks, and the regression and disentangling flows.

Every flow follows the :class:`Flow` contract (:mod:`patchflow.flows.base`, also named :class:`patchflow.flow.Flow`
among the framework's contracts): ``forward(x, context=None) -> (y, logdet)`` and
``inverse(y, context=None) -> (x, logdet)`` with per-sample log-|det J| of the direction taken.
"""

from .autoregressive import IAF, MAF, AutoregressiveStack, standard_normal_log_prob
from .base import Flow
from .bayesian import BayesianAutoregressiveStack
from .conditional import ConditionalAffine
from .coupling import AffineCoupling
from .disentangling import DisentanglingFlow
from .elementwise import Logit, Sigmoid
from .made import MaskedAffineAutoregressive, MaskedAutoregressiveFlow, made_masks
from .normalization import ActNorm, BatchNormFlow
from .permutation import Permutation, Reverse
from .regression import RegressionFlow
from .sequence import FlowSequence, Inverse

__all__ = [
    "IAF",
    "MAF",
    "ActNorm",
    "AffineCoupling",
    "AutoregressiveStack",
    "BatchNormFlow",
    "BayesianAutoregressiveStack",
    "ConditionalAffine",
    "DisentanglingFlow",
    "Flow",
    "FlowSequence",
    "Inverse",
    "Logit",
    "MaskedAffineAutoregressive",
    "MaskedAutoregressiveFlow",
    "Permutation",
    "RegressionFlow",
    "Reverse",
    "Sigmoid",
    "made_masks",
    "standard_normal_log_prob",
]
