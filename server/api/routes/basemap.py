"""The map's base layers from local files (MBTiles, XYZ tile folders, GeoTIFF orthophotos)
and the georeferenced captures as image layers: nothing is fetched from off the host."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["map"])
