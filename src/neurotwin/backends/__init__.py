"""Backends: the contract, the registry, :func:`simulate`, and the ``ideal`` float backend."""

from neurotwin.backends import ideal as ideal  # registers "ideal"
from neurotwin.backends.base import BACKENDS as BACKENDS
from neurotwin.backends.base import Backend as Backend
from neurotwin.backends.base import get_backend as get_backend
from neurotwin.backends.base import simulate as simulate
