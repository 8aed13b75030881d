"""NIR (Neuromorphic Intermediate Representation) import and export.

:func:`read` / :func:`from_nir` turn a NIR file / graph into a
:class:`~neurotwin.network.Network` (module :mod:`.reader`); :func:`write` / :func:`to_nir`
do the reverse (:mod:`.writer`); :mod:`.nodes` converts single NIR nodes and holds the
registry :data:`NODE_TYPES` of the supported types. The mapping is in ``docs/nir.md``.
"""

from neurotwin.network.nir.nodes import NODE_TYPES as NODE_TYPES
from neurotwin.network.nir.nodes import UNREACHABLE_THRESHOLD_MV as UNREACHABLE_THRESHOLD_MV
from neurotwin.network.nir.reader import DISCRETISATIONS as DISCRETISATIONS
from neurotwin.network.nir.reader import from_nir as from_nir
from neurotwin.network.nir.reader import read as read
from neurotwin.network.nir.writer import to_nir as to_nir
from neurotwin.network.nir.writer import write as write
