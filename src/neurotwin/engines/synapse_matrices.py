"""The torch kernel's synapse layout: one weight matrix per distinct delay.

The torch kernel of :mod:`neurotwin.engines.step` adds synaptic input as a matrix
product per delay and step; the matrices are built here from the engine's CSR.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["torch_matrices"]


def torch_matrices(
    indptr: np.ndarray, target: np.ndarray, weight: np.ndarray, delay_steps: np.ndarray,
    n_targets: int, dtype: torch.dtype, device: torch.device,
) -> list[tuple[int, torch.Tensor]]:
    """(delay in steps, matrix) per distinct delay of the CSR synapses (``indptr`` over
    presynaptic index; ``target`` below ``n_targets``; weights in nA): each matrix
    (n_pre, n_targets) dense where more than 10 % filled, else sparse COO stored
    transposed (n_targets, n_pre) for ``torch.sparse.mm``."""
    n_pre = indptr.size - 1
    rows = np.repeat(np.arange(n_pre), np.diff(indptr))
    mats = []
    for d in np.unique(delay_steps):
        sel = delay_steps == d
        r, t, w = rows[sel], target[sel], weight[sel]
        shape = (n_pre, n_targets)
        if sel.sum() > 0.1 * shape[0] * shape[1]:
            dense = np.zeros(shape)
            np.add.at(dense, (r, t), w)
            mat = torch.as_tensor(dense, dtype=dtype, device=device)
        else:
            mat = torch.sparse_coo_tensor(
                torch.as_tensor(np.stack([t, r])),
                torch.as_tensor(w),
                (shape[1], shape[0]),
                check_invariants=True,
            ).coalesce()
            mat = mat.to(dtype=dtype, device=device)
        mats.append((int(d), mat))
    return mats
