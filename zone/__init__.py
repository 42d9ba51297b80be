"""The patrol zone as it physically is: the ground under it and the obstacles in its air.

``zone`` imports none of EcoPatrol's other packages; the planner, the
pipeline and the server build on it.
"""
