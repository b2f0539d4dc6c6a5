"""The package version, importable by every layer (``import ragft`` also offers the Python API)."""

__version__ = "0.1.0"
