"""Height frames between EcoPatrol's plan and DJI WPML, and the one conversion that needs a geoid.

Frames, each named where it is used:

- *above take-off* (``height_m`` in :mod:`missions.export.wpml`): metres above
  the dock the sortie starts from, whose ground altitude is the dock's
  ``ground_alt_m``. The plan's MAVLink items without a DEM are in this frame
  already (MAV_FRAME_GLOBAL_RELATIVE_ALT: above home, and home is the dock);
  with a DEM they are AMSL and ``AMSL - ground_alt_m`` brings them here, an
  exact subtraction. WPML's ``relativeToStartPoint`` is this frame.
- *AMSL*: the plan's absolute altitudes (the DEM's and the surveyed
  ``ground_alt_m``), taken to be EGM96 orthometric heights. WPML calls this
  ``EGM96`` and uses it only in ``template.kml``.
- *WGS84 ellipsoid*: WPML's ``WGS84`` execute mode in ``waylines.wpml`` and
  every ``ellipsoidHeight``. ``h_ellipsoid = H_egm96 + N(lat, lon)``, N the
  EGM96 geoid undulation (about -20 m around Zhengzhou): a grid is needed.

The undulation comes from a PROJ vertical grid (``egm96_15.gtx``, in Debian's
``proj-data`` package, or PROJ-data's ``us_nga_egm96_15.tif``) through
pyproj's ``vgridshift``. pyproj's wheels carry none and no package on PyPI
ships one, so without a grid the ellipsoid frame is refused with one line,
never guessed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pyproj
from pyproj import Transformer
from pyproj.exceptions import ProjError

from missions.errors import PlanFormatError

#: How heights are written: above take-off (``relativeToStartPoint``), or on the
#: WGS84 ellipsoid in waylines.wpml with EGM96 heights in template.kml.
HeightFrame = Literal["relative", "wgs84"]
HEIGHT_FRAMES: tuple[HeightFrame, ...] = ("relative", "wgs84")
GRID_NAMES = ("us_nga_egm96_15.tif", "egm96_15.gtx")


class WpmlError(PlanFormatError):
    """A WPML file cannot be written or read; the message says why in one line."""


class Geoid:
    """EGM96 geoid undulations from a PROJ vertical grid file.

    Parameters
    ----------
    grid : path
        A PROJ vertical grid (GTX or GeoTIFF) of N, metres of geoid above the
        WGS84 ellipsoid.
    """

    def __init__(self, grid: Path) -> None:
        self.grid = Path(grid)
        if not self.grid.is_file():
            raise WpmlError(f"geoid grid {self.grid}: no such file")
        try:
            self._to_ellipsoid = Transformer.from_pipeline(
                "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
                f"+step +proj=vgridshift +grids={self.grid} +multiplier=1 "
                "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
            )
        except ProjError as exc:
            raise WpmlError(f"geoid grid {self.grid}: PROJ cannot use it ({exc})") from None

    def undulation_m(self, lon: float, lat: float) -> float:
        """N at one point (degrees): metres from the ellipsoid up to the geoid."""
        _, _, h = self._to_ellipsoid.transform(lon, lat, 0.0)
        if not np.isfinite(h):
            raise WpmlError(f"geoid grid {self.grid} does not cover {lat:.6f}, {lon:.6f}")
        return float(h)

    def to_ellipsoid(self, lon: float, lat: float, amsl_m: float) -> float:
        """EGM96 height to WGS84 ellipsoidal height at (lon, lat)."""
        return amsl_m + self.undulation_m(lon, lat)

    def to_amsl(self, lon: float, lat: float, ellipsoid_m: float) -> float:
        """WGS84 ellipsoidal height to EGM96 height at (lon, lat)."""
        return ellipsoid_m - self.undulation_m(lon, lat)


def find_egm96_grid() -> Path | None:
    """An EGM96 grid in one of PROJ's data directories, or None.

    Looks in pyproj's own and user data directories, then ``$PROJ_DATA`` and
    ``$PROJ_LIB``, then the system PROJ's (Debian's ``proj-data`` package puts
    ``egm96_15.gtx`` in ``/usr/share/proj``).
    """
    dirs = [Path(pyproj.datadir.get_data_dir()), Path(pyproj.datadir.get_user_data_dir())]
    for variable in ("PROJ_DATA", "PROJ_LIB"):
        dirs += [Path(d) for d in os.environ.get(variable, "").split(os.pathsep) if d]
    dirs += [Path("/usr/share/proj"), Path("/usr/local/share/proj")]
    for folder in dirs:
        for name in GRID_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def geoid_for(frame: str, grid: Path | None) -> Geoid | None:
    """The geoid ``frame`` needs (None for ``relative``); a clear error when there is none."""
    if frame not in HEIGHT_FRAMES:
        raise WpmlError(f"unknown WPML height frame {frame!r} (known: {', '.join(HEIGHT_FRAMES)})")
    if frame == "relative":
        return None
    found = grid if grid is not None else find_egm96_grid()
    if found is None:
        raise WpmlError(
            "WGS84 ellipsoid heights need an EGM96 geoid grid (us_nga_egm96_15.tif or "
            "egm96_15.gtx) and none is installed: give --geoid-grid, or export relative "
            "to take-off (--wpml-heights relative)"
        )
    return Geoid(found)
