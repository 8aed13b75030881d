"""The plain reference of a hybrid program: torch's int8 model for the DNN stage, then the
readout in numpy (:func:`.readout.reference_lif`); the twin's run must equal it spike for
spike."""

from __future__ import annotations

import numpy as np
import torch

from neurotwin.spinnaker2.dnn.quantisation import reference_codes
from neurotwin.spinnaker2.hybrid.program import HybridProgram
from neurotwin.spinnaker2.hybrid.readout import ReferenceRun, reference_lif

__all__ = ["reference_hybrid"]


def reference_hybrid(program: HybridProgram, x: torch.Tensor | np.ndarray) -> ReferenceRun:
    """Readout spikes of float inputs ``x`` (``(N, *in_shape)``) computed without the twin:
    torch's int8 codes of the front end, the rate code, the numpy LIF layer."""
    features = reference_codes(program.dnn.model, x)
    spikes = program.code.spikes(features, program.zero_point)
    return reference_lif(program.readout, spikes, program.tick_ms, program.run_ticks)
