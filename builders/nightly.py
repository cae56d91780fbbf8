"""The nightly job: build every table from DocDB into the production store and publish it.

    python builders/nightly.py                     # incremental update of s3://allen-data-views/...
    python builders/nightly.py --full              # rebuild everything
    BIODATA_CACHE_ROOT=s3://bucket/prefix python builders/nightly.py --source docdb

Needs AWS credentials that may write the bucket (AWS_PROFILE or AWS_ACCESS_KEY_ID/...) and
`pip install 'biodata-cache[docdb]'`. Exits non-zero on failure; the previous release stays readable.
"""

import argparse
import logging
import sys

from biodata_cache import config
from biodata_cache.errors import BiodataCacheError
from biodata_cache.sync import default_workers, update_all_tables

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", default=None, help="default: BIODATA_CACHE_SOURCE, else docdb")
    parser.add_argument("--root", default=None, help="default: BIODATA_CACHE_ROOT, else the production root")
    parser.add_argument("--full", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = arguments.root or config.resolve(backend="S3").root
    try:
        report = update_all_tables(
            source=arguments.source, root=root, full=arguments.full, progress=False, workers=default_workers()
        )
    except BiodataCacheError as error:
        logging.getLogger("nightly").error("%s", error)
        sys.exit(1)
    print(report)
