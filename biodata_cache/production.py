"""The production catalog, registered under the ``intake.catalogs`` entry point.

``intake.cat.biodata_cache`` loads :data:`catalog` from here. It is lazy: nothing is read until its
entries are first used, and the root is resolved then (``BIODATA_CACHE_ROOT``, else the production root
``s3://allen-data-views/data-asset-cache``, read anonymously when no AWS credentials are configured).
"""

from __future__ import annotations

from typing import Any

from intake.catalog import Catalog

from biodata_cache import config
from biodata_cache.catalog import CATALOG_FILE, open_intake_catalog
from biodata_cache.intake_driver import HtmlCatalogMixin


class ProductionCatalog(HtmlCatalogMixin, Catalog):
    """Top-level catalog of the production store: one nested catalog per version plus ``latest``."""

    def __init__(self, **kwargs: Any) -> None:
        self._top: Catalog | None = None
        kwargs.setdefault("name", "biodata_cache")
        kwargs.setdefault("description", "biodata-cache: versioned tables of AIND data-asset metadata.")
        super().__init__(**kwargs)

    def _load(self) -> None:
        # Called by intake on construction and reload: forget what was read; read again when used.
        self._top = None
        self._entries = {}

    def _get_entries(self) -> Any:
        if self._top is None:
            from biodata_cache.store import Store

            store = Store(config.resolve(backend="S3").root)
            store.fs  # noqa: B018  (resolves anonymous access when there are no credentials)
            self._top = open_intake_catalog(store.url(CATALOG_FILE), store.storage_options)
            self.metadata = self._top.metadata
            self._entries = dict(self._top._get_entries())
        return self._entries

    def _get_entry(self, name: str) -> Any:
        self._get_entries()
        return super()._get_entry(name)


catalog = ProductionCatalog()
