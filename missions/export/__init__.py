"""File formats for missions and patrols: each module writes and, where the
format allows, reads back exactly what it wrote."""
