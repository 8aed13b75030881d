"""Training: a small epoch/batch loop with Adam, checkpoints and a NaN guard
(:mod:`~neurotwin.train.loop`, :mod:`~neurotwin.train.checkpoint`) and learning-curve plots
(:mod:`~neurotwin.train.plots`), shared by the experiments."""

from neurotwin.train.checkpoint import CHECKPOINT_NAME as CHECKPOINT_NAME
from neurotwin.train.checkpoint import HISTORY_NAME as HISTORY_NAME
from neurotwin.train.checkpoint import Checkpoint as Checkpoint
from neurotwin.train.checkpoint import load_best as load_best
from neurotwin.train.checkpoint import load_checkpoint as load_checkpoint
from neurotwin.train.checkpoint import save_checkpoint as save_checkpoint
from neurotwin.train.loop import SCHEDULES as SCHEDULES
from neurotwin.train.loop import FitResult as FitResult
from neurotwin.train.loop import LoopConfig as LoopConfig
from neurotwin.train.loop import fit as fit
from neurotwin.train.plots import learning_curves as learning_curves
from neurotwin.train.plots import sample_raster as sample_raster
from neurotwin.train.summary import mean_std as mean_std
from neurotwin.train.summary import progress_part as progress_part
