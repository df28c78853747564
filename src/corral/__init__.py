"""corral: a container engine for Linux, and a Python library for it."""

__version__ = "0.1.0"
