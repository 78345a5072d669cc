"""Local Microsoft 365 emulator: Entra token endpoint + a Graph subset over HTTPS on 127.0.0.1.

from sp_sync.emulator import Emulator, FaultRule
with Emulator(seed=None) as emu:
    emu.info.graph_url
"""

from sp_sync.emulator.faults import FaultRule
from sp_sync.emulator.serve import serve
from sp_sync.emulator.server import Emulator, EmulatorInfo

__all__ = ["Emulator", "EmulatorInfo", "FaultRule", "serve"]
