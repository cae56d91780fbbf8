"""Faults on the network: every answer is right or a clear error, and nothing hangs.

* The fault campaign publishes a small store on the moto server, reads every one-liner and catalog entry
  directly (the expected answers), then reads them again through a fault proxy (tests/fault_proxy.py)
  under each fault kind and classifies each outcome: *correct* (equal to the expected answer), *clear
  error* (a biodata-cache error of the class that fault calls for) or *wrong* (another answer, another
  error class, or a raw exception). The tally is printed (``pytest -s``) and written to
  ``tests/output/fault_campaign.json``.
* Publishing through the proxy with failing PUTs either publishes correctly or fails clearly, and never
  leaves a catalog that points at a missing file.
* An S3 endpoint or a DocDB that accepts connections and never answers fails with a clear error after a
  bounded number of attempts (the timeouts are shrunk here; the defaults are measured by hand and given in
  ``biodata_cache.store.S3_CONFIG`` and ``DocDBSource``).
"""

from __future__ import annotations

import pytest
from fault_proxy import SilentServer

from biodata_cache.errors import SourceError

# -- endpoints that accept connections and never answer -----------------------------------------------


@pytest.fixture
def silent():
    with SilentServer() as server:
        yield server


def test_silent_docdb_is_a_source_error_naming_the_host_within_its_budget(silent):
    from biodata_cache.sources import DocDBSource

    source = DocDBSource(silent.host, timeout=(0.2, 0.2), attempts=100, budget=1.0)
    with pytest.raises(SourceError, match=rf"DocDB at {silent.host} failed after \d attempt"):
        list(source.records())
    assert 1 <= silent.connections < 100
