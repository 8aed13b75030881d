"""One network on several backends, side by side: spike agreement (Kistler's coincidence
factor, rates), wall time, hardware time, energy and resources (``neurotwin compare``;
see ``docs/compare.md``)."""

from neurotwin.compare.agreement import coincidence_factor as coincidence_factor
from neurotwin.compare.agreement import population_coincidence as population_coincidence
from neurotwin.compare.comparison import BackendRun as BackendRun
from neurotwin.compare.comparison import Comparison as Comparison
from neurotwin.compare.comparison import PopulationAgreement as PopulationAgreement
from neurotwin.compare.comparison import compare as compare
from neurotwin.compare.figure import comparison_figure as comparison_figure

__all__ = [
    "BackendRun",
    "Comparison",
    "PopulationAgreement",
    "coincidence_factor",
    "compare",
    "comparison_figure",
    "population_coincidence",
]
