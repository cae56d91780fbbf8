"""Benchmark: listing N asset folders on a moto S3 server with 1, 4 and 16 threads. Prints numbers only.

    python tests/benchmarks/listing.py [--assets 400]

Each asset is laid out like a stitched SmartSPIM asset (``image_cell_segmentation/<channel>/...``) and
listed by :func:`biodata_cache.asset_listing.list_assets` as a build lists it (one LIST request per
folder). moto answers in about a millisecond and is CPU-bound on a small machine; ``--latency`` adds S3's
round trip to each LIST.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to each LIST (S3's round trip; moto has ~0)"
    )
    arguments = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    import s3fs

    from biodata_cache import asset_listing as listing

    fs = s3fs.S3FileSystem()
    fs.mkdir("aind-open-data")
    requests = []
    for i in range(arguments.assets):
        name = f"SmartSPIM_{i}_stitched"
        fs.pipe({f"aind-open-data/{name}/image_cell_segmentation/Ex_{c}/x": b"" for c in (488, 561)})
        requests.append(
            listing.Request(str(i), name, f"s3://aind-open-data/{name}", None, ("image_cell_segmentation",))
        )

    def lister(fs: object, path: str) -> list[str]:
        time.sleep(arguments.latency)
        return listing.list_prefix(fs, path)

    print(
        f"{arguments.assets} assets on moto S3 (127.0.0.1), +{arguments.latency * 1000:.0f} ms per LIST, "
        f"median of {arguments.repeat} runs"
    )
    for workers in (1, 4, 16):
        times = []
        for _ in range(arguments.repeat):
            started = time.perf_counter()
            result = listing.list_assets(
                requests, {}, max_age=listing.resolve_max_age(0), workers=workers, lister=lister
            )
            times.append(time.perf_counter() - started)
            assert result.listed == arguments.assets and not result.failures
        median = statistics.median(times)
        print(f"  {workers:>2} threads: {median:6.2f} s  ({arguments.assets / median:7.0f} assets/s)")
    server.stop()


if __name__ == "__main__":
    main()
