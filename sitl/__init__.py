"""ArduCopter SITL on 127.0.0.1: find the binary, start, stop, and pytest fixtures.

    async with sitl.running(home=sitl.Home(lat, lon, alt), speedup=10) as sim:
        await fly_mission(sim, mission, out_dir=path)

``sitl.start(...)`` returns a ready :class:`Sitl` to ``stop()`` yourself. Either
way SITL dies with the process that started it; ``ecopatrol sitl start`` leaves
one running under a supervising process (:mod:`sitl.supervisor`).
"""

from sitl.errors import SitlError
from sitl.instance import Home, Sitl, find_binary, running, start

__all__ = ["Home", "Sitl", "SitlError", "find_binary", "running", "start"]
