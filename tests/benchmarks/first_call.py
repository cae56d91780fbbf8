"""The first call in a fresh process against its floor (issue 12 item 3). Prints numbers; asserts nothing.

For each store (a local folder, and an S3 endpoint read anonymously), fresh processes run, interleaved
``--runs`` times each:

* floor: ``python -c "import pyarrow.parquet, pandas"`` plus one GET of the table's object (``open()`` on
  a local store, ``urllib.request`` on S3);
* each interpreter given with ``--python NAME=PATH`` (e.g. ``before=/work/main/.venv/bin/python``, whose
  installed biodata-cache is the code measured): ``from biodata_cache import unique_project_names;
  unique_project_names()``.

The stores must hold a published version with ``unique_project_names``; the S3 bucket must allow
anonymous reads. The child processes get no AWS credentials.

Example::

    python tests/benchmarks/first_call.py --local /tmp/store \\
        --s3 s3://allen-data-views/data-asset-cache --endpoint http://127.0.0.1:47811 \\
        --python before=/work/main/.venv/bin/python --python after=.venv/bin/python --runs 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

ONE_LINER = "from biodata_cache import unique_project_names; unique_project_names()"
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def _object(root: str, endpoint: str | None) -> str:
    """Where the table's object is: a local path, or its HTTP URL on the endpoint (path-style)."""
    if root.startswith("s3://"):
        bucket_prefix = root.removeprefix("s3://")
        with urllib.request.urlopen(f"{endpoint}/{bucket_prefix}/bdc-v0.1/cache_registry.json") as response:
            registry = json.load(response)
        base = f"{endpoint}/{bucket_prefix}/bdc-v0.1"
    else:
        with open(f"{root}/bdc-v0.1/cache_registry.json") as handle:
            registry = json.load(handle)
        base = f"{root}/bdc-v0.1"
    (entry,) = [t for t in registry["tables"] if t["name"] == "unique_project_names"]
    return f"{base}/{entry['path']}"


def _seconds(command: list[str], environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--local", help="a local store root")
    parser.add_argument("--s3", help="an s3:// store root read anonymously")
    parser.add_argument("--endpoint", help="the S3 endpoint (AWS_ENDPOINT_URL of the children)")
    parser.add_argument(
        "--python", action="append", default=[], help="NAME=PATH of an interpreter to measure"
    )
    parser.add_argument("--runs", type=int, default=9)
    arguments = parser.parse_args()
    base = {
        k: v for k, v in os.environ.items() if k not in CREDENTIALS and not k.startswith("BIODATA_CACHE_")
    }
    interpreters = dict(item.split("=", 1) for item in arguments.python)
    for root in [r for r in (arguments.local, arguments.s3) if r]:
        environment = {**base, "BIODATA_CACHE_ROOT": root}
        if root.startswith("s3://"):
            environment["AWS_ENDPOINT_URL"] = arguments.endpoint
        where = _object(root, arguments.endpoint)
        get = (
            f"import urllib.request; urllib.request.urlopen({where!r}).read()"
            if root.startswith("s3://")
            else f"open({where!r}, 'rb').read()"
        )
        commands = {"floor": [sys.executable, "-c", f"import pyarrow.parquet, pandas; {get}"]}
        commands |= {name: [path, "-c", ONE_LINER] for name, path in interpreters.items()}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # warm the file cache once
            _seconds(command, environment)
        names = list(commands)
        for run in range(arguments.runs):
            for name in names[run % len(names) :] + names[: run % len(names)]:
                times[name].append(_seconds(commands[name], environment))
        floor = statistics.median(times["floor"])
        print(f"\n{root} (median of {arguments.runs} fresh processes, interleaved)")
        for name, values in times.items():
            median = statistics.median(values)
            print(
                f"  {name:8s} {median * 1000:7.0f} ms  x{median / floor:4.2f} of the floor  "
                f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"
            )


if __name__ == "__main__":
    main()
