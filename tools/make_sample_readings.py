"""Write the sample zone's day of synthetic hourly station readings (seeded: the same file
every run).

    python tools/make_sample_readings.py [--sites examples/zhengzhou-hightech/sites.geojson]
                                         [--out examples/zhengzhou-hightech/readings.csv]

The day is 15 June 2026 in China Standard Time (UTC+8; the times are written
with their +08:00 offset). Every station reports each pollutant it measures
once an hour: a typical summer level for the pollutant, shaped by the hour
(rush hours for NO2 and CO, the afternoon for O3, the night's shallow mixing
layer for particles) and a lognormal factor of about 8 % per reading.

The wind blows from the south-east in the morning, turns north-east at 3 m/s
from 13:00 to 17:00, and east in the evening (directions are where the wind
blows FROM, degrees clockwise from true north). Under the north-east wind,
``stn-mic-03`` lies about 300 m down-wind (south-west) of Yuhua Chemical
Intermediates (``ent-12``), and at 14:00 and 15:00 it gets that plant's
plume: NO2 and TVOC added to its own levels (:data:`PLUME`). With
``store.alerts``' default rules this opens a NO2 alert over the 200 µg/m³
1-hour limit at 14:00 (15:00 holds it, between 90 % of the limit and the
limit) and a TVOC alert over the station's own baseline, and both close at
17:00, the second hour back under 90 % of their levels.
"""

from __future__ import annotations

import argparse
import csv
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from zone.sites import Station, load_sites

REPO = Path(__file__).resolve().parents[1]
ZONE = REPO / "examples" / "zhengzhou-hightech"
SEED = 20260615
CST = timezone(timedelta(hours=8), "CST")
DAY = datetime(2026, 6, 15, tzinfo=CST)
UNIT = {"CO": "mg/m³"}  # every other pollutant is in µg/m³
# each pollutant's daily level at a station (µg/m³; CO mg/m³)
LEVEL = {"PM2.5": 32.0, "PM10": 68.0, "NO2": 30.0, "SO2": 9.0, "O3": 90.0, "CO": 0.6, "TVOC": 80.0}
NOISE = 0.08  # sigma of the lognormal factor on each reading
PLUME_STATION = "stn-mic-03"
# local hour -> what ent-12's plume adds at PLUME_STATION (µg/m³)
PLUME = {14: {"NO2": 205.0, "TVOC": 430.0}, 15: {"NO2": 165.0, "TVOC": 300.0}}
FIELDS = ("station", "pollutant", "value", "unit", "time", "wind_speed_m_s", "wind_from_deg")


def hour_shape(pollutant: str, hour: int) -> float:
    """The pollutant's level at a local hour as a factor of its daily level."""
    if pollutant in ("NO2", "CO"):  # rush hours at 08:00 and 19:00
        return 0.8 + 0.4 * (
            math.exp(-(((hour - 8) / 1.5) ** 2)) + math.exp(-(((hour - 19) / 2) ** 2))
        )
    if pollutant == "O3":  # sunlight: low at night, highest mid-afternoon
        return 0.35 + 1.3 * math.exp(-(((hour - 15) / 3.5) ** 2))
    if pollutant in ("PM2.5", "PM10"):  # a shallow mixing layer at night holds them
        return 1.0 + 0.2 * math.cos(2 * math.pi * (hour - 3) / 24)
    return 1.0


def wind(hour: int, rng: np.random.Generator) -> tuple[float, float]:
    """(speed in m/s, direction the wind blows FROM in degrees clockwise from true north)."""
    if hour < 13:
        speed, from_deg = 2.0, 135.0
    elif hour < 17:
        speed, from_deg = 3.0, 45.0
    else:
        speed, from_deg = 2.2, 90.0
    speed += rng.normal(0.0, 0.2)
    from_deg = (from_deg + rng.normal(0.0, 6.0)) % 360
    return round(max(speed, 0.1), 1), float(round(from_deg))


def rows(stations: list[Station], rng: np.random.Generator) -> list[dict[str, str]]:
    """Every station's readings for the day, hour by hour."""
    out: list[dict[str, str]] = []
    for hour in range(24):
        when = (DAY + timedelta(hours=hour)).isoformat()
        speed, from_deg = wind(hour, rng)
        for station in stations:
            for pollutant in station.measures:
                value = LEVEL[pollutant] * hour_shape(pollutant, hour)
                value *= float(rng.lognormal(0.0, NOISE))
                if station.id == PLUME_STATION:
                    value += PLUME.get(hour, {}).get(pollutant, 0.0)
                digits = 2 if pollutant == "CO" else 1
                out.append(
                    {
                        "station": station.id,
                        "pollutant": pollutant,
                        "value": f"{value:.{digits}f}",
                        "unit": UNIT.get(pollutant, "µg/m³"),
                        "time": when,
                        "wind_speed_m_s": f"{speed:.1f}" if station.has_wind else "",
                        "wind_from_deg": f"{from_deg:.0f}" if station.has_wind else "",
                    }
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=Path, default=ZONE / "sites.geojson")
    parser.add_argument("--out", type=Path, default=ZONE / "readings.csv")
    args = parser.parse_args()
    stations = list(load_sites(args.sites).stations)
    if PLUME_STATION not in {s.id for s in stations}:
        parser.error(f"{args.sites} has no station {PLUME_STATION!r}")
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows(stations, np.random.default_rng(SEED)))


if __name__ == "__main__":
    main()
