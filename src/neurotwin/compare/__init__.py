"""One network on several backends, side by side: spike agreement (Kistler's coincidence
factor, rates), or task accuracy for a trained classifier, wall time, hardware time, energy
and resources (``neurotwin compare``; see ``docs/compare.md``)."""

from neurotwin.compare.agreement import coincidence_factor as coincidence_factor
from neurotwin.compare.agreement import population_coincidence as population_coincidence
from neurotwin.compare.classifier import ClassifierComparison as ClassifierComparison
from neurotwin.compare.classifier import ClassifierRun as ClassifierRun
from neurotwin.compare.classifier import ClassifierTask as ClassifierTask
from neurotwin.compare.classifier import classifier_network as classifier_network
from neurotwin.compare.classifier import compare_classifier as compare_classifier
from neurotwin.compare.comparison import BackendRun as BackendRun
from neurotwin.compare.comparison import Comparison as Comparison
from neurotwin.compare.comparison import PopulationAgreement as PopulationAgreement
from neurotwin.compare.comparison import compare as compare
from neurotwin.compare.figure import classifier_figure as classifier_figure
from neurotwin.compare.figure import comparison_figure as comparison_figure

__all__ = [
    "BackendRun",
    "ClassifierComparison",
    "ClassifierRun",
    "ClassifierTask",
    "Comparison",
    "PopulationAgreement",
    "classifier_figure",
    "classifier_network",
    "coincidence_factor",
    "compare",
    "compare_classifier",
    "comparison_figure",
    "population_coincidence",
]
