"""Sphinx configuration of the API reference (``make docs``): every public module of
neurotwin, from its docstrings (numpy style), built with warnings as errors."""

project = "neurotwin"
author = "the neurotwin developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.napoleon"]
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
# torch's own docstrings (autograd.Function.forward ...) refer to labels of torch's docs
autodoc_inherit_docstrings = False
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
# numpy-style field names (times, ids, n ...) recur across modules: an ambiguous
# cross-reference is not an error in the text
suppress_warnings = ["ref.python"]
exclude_patterns = ["_build", "_generated/*.tmp"]
html_theme = "alabaster"


def _skip_foreign(app, what, name, obj, skip, options):  # Sphinx passes all six
    """neurotwin.pynn re-exports PyNN's own classes (RandomDistribution, NumpyRNG, ...), as
    every PyNN backend does; their docstrings are PyNN's, documented by PyNN."""
    return True if str(getattr(obj, "__module__", "") or "").startswith("pyNN") else None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign)
