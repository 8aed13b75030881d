"""Containers for labelled data: one subset (:class:`Samples`) and a data set's
fixed subsets (:class:`Splits`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.errors import ConfigError

__all__ = ["Samples", "Splits"]


@dataclass(frozen=True, eq=False)
class Samples:
    """Inputs and integer class labels of one subset of a data set.

    Parameters
    ----------
    inputs
        Float array of shape ``(n, n_features)``.
    labels
        Integer array of shape ``(n,)``, converted to int64.
    """

    inputs: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        inputs = np.asarray(self.inputs)
        labels = np.asarray(self.labels)
        if inputs.ndim != 2 or not np.issubdtype(inputs.dtype, np.floating):
            raise ConfigError(
                f"inputs must be a float array of shape (n, n_features), "
                f"got {inputs.dtype} of shape {inputs.shape}"
            )
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(
                f"labels must be an integer array of shape (n,), "
                f"got {labels.dtype} of shape {labels.shape}"
            )
        if labels.shape[0] != inputs.shape[0]:
            raise ConfigError(
                f"labels must hold one label per input row: {inputs.shape[0]} inputs, "
                f"{labels.shape[0]} labels"
            )
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "labels", labels.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_features(self) -> int:
        """Number of input features (columns of ``inputs``)."""
        return int(self.inputs.shape[1])


@dataclass(frozen=True, eq=False)
class Splits:
    """The fixed subsets of a data set.

    Parameters
    ----------
    train, test
        Training and test samples.
    validation
        Validation samples, or None where the data set defines none.
    """

    train: Samples
    test: Samples
    validation: Samples | None = None
