"""The abstract dataset of (audio, parameters) pairs that models learn from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .parameters import ParameterTable
from .synth import RenderSettings

#: Names of the standard splits.
SPLITS = ("train", "valid", "test")


@dataclass
class Sample:
    """One item: features of the rendered note and the preset's parameters.

    Attributes:
        mel: Log-mel spectrogram, ``(n_mels, frames)`` float32, normalised with the training statistics.
        params: Learned parameters normalised to ``[0, 1]`` (categorical ones as ``k / (n - 1)``), ``(P,)``.
        classes: Class index of each learned categorical parameter (-1 for continuous ones), ``(P,)`` int64.
        tags: Tag-pair values (-1 negative, +1 positive, 0 unknown), ``(T,)`` int8.
        index: Row of the item in its store.
    """

    mel: np.ndarray
    params: np.ndarray
    classes: np.ndarray
    tags: np.ndarray
    index: int
    extra: dict[str, Any] = field(default_factory=dict)


class Dataset(ABC):
    """A read-only collection of :class:`Sample` with its parameter specs, render settings and splits."""

    @property
    @abstractmethod
    def synth_id(self) -> str:
        """Id of the synth that rendered the audio."""

    @property
    @abstractmethod
    def parameters(self) -> ParameterTable:
        """Specs of the learned parameters, in column order."""

    @property
    @abstractmethod
    def render_settings(self) -> RenderSettings:
        """How every item was rendered."""

    @property
    @abstractmethod
    def tag_pairs(self) -> Sequence[str]:
        """Names of the tag pairs (``"Bright/Dark"``) in column order of :attr:`Sample.tags`."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of items."""

    @abstractmethod
    def __getitem__(self, index: int) -> Sample:
        """One item by row."""

    @abstractmethod
    def split_indices(self, split: str) -> np.ndarray:
        """Rows of a split (``train``, ``valid`` or ``test``), sorted."""
