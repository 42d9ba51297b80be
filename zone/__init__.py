"""The patrol zone as it physically is: the ground under it, the obstacles in its air,
and the frames it is measured in (``zone.frames``: the UTM grid and its way from true north).

``zone`` imports none of EcoPatrol's other packages; the planner, the
pipeline and the server build on it.
"""
