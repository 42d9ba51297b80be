"""The metric flight-path model every pattern produces and the mission builder consumes.

A :class:`Task` is one pattern over one target (the survey of an enterprise,
the orbit of a stack...), made of :class:`Leg` s flown in order. Everything is
in the local UTM frame (metres); altitudes are above ground.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

Point2 = tuple[float, float]

#: Straight flight before the camera is switched on, at least (metres): ArduCopter
#: counts the switch-on waypoint reached where its position target passes it, and
#: the vehicle follows the target closely once out of the turn onto the leg.
RUN_UP_STRAIGHT_M = 5.0


@dataclass(frozen=True)
class Leg:
    """A polyline flown at one height, with the camera on or off.

    ``trigger_m`` is the camera trigger distance while flying ``points`` (None:
    camera off); the first photo is planned at ``points[0]`` and the camera is
    switched on one trigger distance before it (:attr:`camera_on`).
    ``lead_in``/``lead_out`` are turnaround points flown before and after with
    the camera off, so the vehicle is straight and at speed when the camera is
    switched on; ``lead_in`` is given relative to ``points[0]`` and flown
    relative to the switch-on point (:attr:`run_in`). ``roi`` is the (x, y,
    height above ground) the camera looks at (orbits); otherwise the camera
    points at ``gimbal_pitch_deg``.
    ``altitude_m`` is above the ground under each point, or, when
    ``base_amsl_m`` is set (an orbit ring: above its stack's base), above
    that fixed AMSL altitude.
    """

    points: NDArray[np.float64]
    altitude_m: float
    trigger_m: float | None = None
    lead_in: Point2 | None = None
    lead_out: Point2 | None = None
    roi: tuple[float, float, float] | None = None
    gimbal_pitch_deg: float = -90.0
    base_amsl_m: float | None = None

    @property
    def camera_on(self) -> Point2 | None:
        """Where the camera is switched on (local metres); None without a trigger.

        One trigger distance before ``points[0]``, back along the first
        segment's line: ArduPilot's distance trigger takes no photo when it is
        switched on, only where the vehicle is one trigger distance from there,
        so the first photo falls on ``points[0]`` in straight, steady flight.
        None without a trigger, and for a leg looking at a point (an orbit): a
        run-up along its first chord would leave the ring, so it is switched on
        at ``points[0]`` with a photo there ("trigger now").
        """
        if self.trigger_m is None or self.roi is not None:
            return None
        first = self.points[0]
        away = np.hypot(*(self.points - first).T)
        if not np.any(away > 0):
            raise ValueError("a camera leg needs two distinct points")
        heading = self.points[int(np.argmax(away > 0))] - first
        x, y = first - heading / float(np.hypot(*heading)) * self.trigger_m
        return float(x), float(y)

    @property
    def run_in(self) -> Point2 | None:
        """The turnaround flown before the camera is switched on (local metres).

        ``lead_in``'s direction from ``points[0]``, at least :data:`RUN_UP_STRAIGHT_M`
        before :attr:`camera_on`: the vehicle flies straight onto the switch-on point
        and on to the first photo, as far as the planner's lead-in asked for before
        the first photo, or farther (each metre added is flown twice per leg).
        """
        on = self.camera_on
        if self.lead_in is None or on is None or self.trigger_m is None:
            return self.lead_in
        away = np.subtract(self.lead_in, self.points[0])
        length = float(np.hypot(*away))
        if length == 0.0:
            return on
        reach = max(length, self.trigger_m + RUN_UP_STRAIGHT_M)
        x, y = self.points[0] + away / length * reach
        return float(x), float(y)

    @property
    def start(self) -> Point2:
        """Where the planner's leg begins (``lead_in``, else ``points[0]``): the task's entry
        for routing. The builder flies the run-up before it where the airspace allows
        (:attr:`run_in`, :attr:`camera_on`)."""
        return self.lead_in or (float(self.points[0, 0]), float(self.points[0, 1]))

    @property
    def end(self) -> Point2:
        return self.lead_out or (float(self.points[-1, 0]), float(self.points[-1, 1]))

    @property
    def length_m(self) -> float:
        """Length of the camera part, without turnarounds."""
        return float(np.sum(np.hypot(*np.diff(self.points, axis=0).T)))

    def reversed(self) -> Leg:
        return replace(
            self, points=self.points[::-1].copy(), lead_in=self.lead_out, lead_out=self.lead_in
        )

    def photo_positions(self, *, run_up: bool = True) -> NDArray[np.float64]:
        """Where the camera fires along the leg, ``(K, 2)`` metres.

        ArduPilot's distance trigger (see :func:`photo_positions`) switched on
        at :attr:`camera_on`: the first photo falls on ``points[0]``. A leg
        looking at a point (an orbit) is switched on at ``points[0]`` with a
        photo there ("trigger now", whose place ArduPilot remembers as the last
        photo's). Without the run-up (``run_up`` False: no room for it) the
        camera is switched on at ``points[0]`` and the first photo is one
        trigger distance on.
        """
        if self.trigger_m is None:
            return np.empty((0, 2))
        on = self.camera_on
        if on is None:
            return np.vstack([self.points[:1], photo_positions(self.points, self.trigger_m)])
        if not run_up:
            return photo_positions(self.points, self.trigger_m)
        return photo_positions(np.vstack([on, self.points]), self.trigger_m)


@dataclass(frozen=True)
class Task:
    """One pattern over one target, flown as a unit between transits."""

    target_id: str
    pattern: str  # "survey" | "corridor" | "orbit" | "perimeter"
    legs: tuple[Leg, ...]
    speed_m_s: float
    label: str = ""
    reversible: bool = True
    climb_s: float = 0.0  # the time its steps over obstacles add, estimated for routing

    @property
    def entry(self) -> Point2:
        return self.legs[0].start

    @property
    def exit(self) -> Point2:
        return self.legs[-1].end

    def reversed(self) -> Task:
        return replace(self, legs=tuple(leg.reversed() for leg in reversed(self.legs)))

    def waypoints(self) -> list[Point2]:
        """Every point the vehicle flies through, in order (with each leg's run-up)."""
        out: list[Point2] = []
        for leg in self.legs:
            on = leg.camera_on
            before = (leg.lead_in,) if on is None else (leg.run_in, on)
            out.extend(p for p in before if p is not None)
            out.extend((float(x), float(y)) for x, y in leg.points)
            if leg.lead_out is not None:
                out.append(leg.lead_out)
        return out

    @property
    def length_m(self) -> float:
        """Flown length including turnarounds and the hops between legs."""
        pts = np.asarray(self.waypoints())
        return float(np.sum(np.hypot(*np.diff(pts, axis=0).T))) if len(pts) > 1 else 0.0

    @property
    def photo_count(self) -> int:
        return sum(len(leg.photo_positions()) for leg in self.legs)


def photo_positions(points: NDArray[np.float64], trigger_m: float) -> NDArray[np.float64]:
    """Where ArduPilot's distance trigger fires along a polyline, ``(K, 2)`` metres.

    The trigger is switched on at ``points[0]``: ``AP_Camera_Backend::update``
    then only remembers that place (no photo), and takes a photo, remembering
    its place, each time the straight-line distance from the place remembered
    reaches ``trigger_m`` (``get_distance(last) < trigg_dist`` returns: a tie
    fires).
    """
    pts = np.asarray(points, dtype=float)
    last = pts[0]
    out = []
    for a, b in itertools.pairwise(pts):
        seg = b - a
        seg_len2 = float(seg @ seg)
        if seg_len2 == 0:
            continue
        t0 = 0.0
        while True:
            # smallest t > t0 in [0, 1] with |a + t*seg - last| == trigger_m
            rel = a - last
            qa = seg_len2
            qb = 2 * float(rel @ seg)
            qc = float(rel @ rel) - trigger_m**2
            disc = qb * qb - 4 * qa * qc
            if disc < 0:
                break
            t = (-qb + math.sqrt(disc)) / (2 * qa)
            if t <= t0 + 1e-12 or t > 1 + 1e-9:  # ">=": a crossing at the vertex counts
                break
            last = a + t * seg
            out.append(last)
            t0 = t
    return np.asarray(out).reshape(-1, 2)


def polyline_length(points: NDArray[np.float64]) -> float:
    pts = np.asarray(points, dtype=float)
    return float(np.sum(np.hypot(*np.diff(pts, axis=0).T))) if len(pts) > 1 else 0.0


END_MARGIN_M = 3.0


def fit_trigger(length_m: float, trigger_m: float, *, end_margin_m: float = END_MARGIN_M) -> float:
    """Shorten ``trigger_m`` so the photos span the leg, the last just before its end.

    The last photo lands ``margin`` before the end, where ``margin`` is
    ``end_margin_m`` (less for short legs or short trigger distances, so no
    further photo fits after it): ArduCopter counts a waypoint reached a couple
    of metres early (WPNAV_RADIUS) and runs the trigger-off item then, which
    would swallow a photo planned at the very end. With ``n = ceil((L -
    margin) / d)`` intervals the photos reach the far edge instead of leaving
    up to one trigger distance unphotographed. Rounded down to the centimetre
    so exports carry it exactly.
    """
    if length_m <= 0:
        return round(trigger_m, 2)
    margin = min(end_margin_m, trigger_m / 2, 0.4 * length_m)
    usable = length_m - margin
    n = max(1, math.ceil(usable / trigger_m - 1e-9))
    fitted = math.floor(trigger_m * 100) / 100
    for intervals in range(n, n + 50):
        fitted = max(0.01, min(math.floor(usable / intervals * 100) / 100, fitted))
        # centimetre rounding adds up over many photos: check where the last one lands
        last = fitted * math.floor(length_m / fitted + 1e-9)
        if length_m - last >= margin - 0.01:
            break
    return fitted
