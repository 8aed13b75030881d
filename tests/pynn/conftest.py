"""Every test starts from a fresh PyNN session and ends it."""

import pytest

import neurotwin.pynn as sim


@pytest.fixture
def ideal():
    """neurotwin.pynn set up on the ideal backend with dt = 0.1 ms."""
    sim.setup(timestep=0.1, backend="ideal")
    yield sim
    sim.end()
