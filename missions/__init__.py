"""Patrol mission planning, and (in ``missions.flight``) flying the result.

The planner's front door::

    from zone.sites import load_sites
    from missions.plan import plan_patrol

    patrol = plan_patrol(load_sites("sites.geojson"), gsd_cm=2.0)
    for sortie in patrol.sorties:
        sortie.mission        # missions.items.Mission: items, fence, rally
        sortie.photo_points   # where the distance trigger should fire

Exports live in ``missions.export`` (QGC ``.plan``, ``.waypoints``, GeoJSON,
KML, planned photo points). Nothing is imported here, so the flight layer does
not pay for the planner's dependencies (OR-Tools, rasterio).
"""
