"""The BrainScaleS-2 plasticity processors (PPUs): programs that change the chip while it
runs. See ``docs/ppu.md``.

- :mod:`~neurotwin.bss2.ppu.vector`: the vector unit's fixed-point numerics;
- :mod:`~neurotwin.bss2.ppu.memory`: 16 KiB per processor;
- :mod:`~neurotwin.bss2.ppu.sensors`: correlation sensors and spike counters during a run;
- :mod:`~neurotwin.bss2.ppu.processor`: :class:`PPU`, what a program sees (cycle-costed);
- :mod:`~neurotwin.bss2.ppu.program`: :class:`PlasticityProgram`, :class:`Timer`,
  :class:`PPURuntime` (programs into the run loop), :class:`ProgramReport`;
- :mod:`~neurotwin.bss2.ppu.rules`: shipped rules (STDP, R-STDP, homeostasis, structural);
- :mod:`~neurotwin.bss2.ppu.pong`: the Pong pilot study as one program.
"""

from neurotwin.bss2.ppu.errors import ProgramError as ProgramError
from neurotwin.bss2.ppu.memory import Buffer as Buffer
from neurotwin.bss2.ppu.memory import Memory as Memory
from neurotwin.bss2.ppu.processor import PPU as PPU
from neurotwin.bss2.ppu.program import PlasticityProgram as PlasticityProgram
from neurotwin.bss2.ppu.program import PPURuntime as PPURuntime
from neurotwin.bss2.ppu.program import ProgramReport as ProgramReport
from neurotwin.bss2.ppu.program import Timer as Timer
