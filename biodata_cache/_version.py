"""The package version; the store's version folder is its major.minor (``bdc-v0.1``)."""

__version__ = "0.1.0"
