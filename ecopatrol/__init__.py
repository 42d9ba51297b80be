"""EcoPatrol: environmental drone patrols, from sites to reviewed findings."""

__version__ = "0.1.0"
