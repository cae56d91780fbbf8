"""The first call in a fresh process against its floor (issue 12 item 3). Prints numbers; asserts nothing.

For each store (a local folder, and an S3 endpoint read anonymously), fresh processes run, interleaved
``--runs`` times each:

* floor: ``python -c "import pyarrow.parquet, pandas"`` plus one GET of the table's object (``open()`` on
  a local store, ``urllib.request`` on S3);
* each interpreter given with ``--python NAME=PATH`` (e.g. ``before=/work/main/.venv/bin/python``, whose
  installed biodata-cache is the code measured): ``import biodata_cache; biodata_cache.<call>`` with
  ``--call`` (default ``unique_project_names()``; the floor GETs the object of the call's table).

The stores must hold a published version with the table; the S3 bucket must allow anonymous reads. The
child processes get no AWS credentials and run in ``/`` (a checkout in the working directory would shadow
the interpreter's installed biodata-cache).

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

ONE_LINER = "import biodata_cache; biodata_cache.{call}"
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def _object(root: str, endpoint: str | None, table: str) -> str:
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
    (entry,) = [t for t in registry["tables"] if t["name"] == table]
    return f"{base}/{entry['path']}"


FAILURES: list[str] = []


def _seconds(command: list[str], environment: dict[str, str]) -> float:
    """Wall-clock seconds of a fresh process (one that exits non-zero is noted and still timed: s3fs's
    event loop sometimes aborts the interpreter at exit, after the read)."""
    started = time.perf_counter()
    # cwd: not a checkout, whose biodata_cache would shadow the interpreter's installed one
    result = subprocess.run(command, env=environment, capture_output=True, text=True, cwd="/")
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        FAILURES.append(f"{command[0]} exited {result.returncode}: {result.stderr.strip()[-300:]}")
    return seconds


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
    parser.add_argument("--call", default="unique_project_names()", help="the one-liner (and its table)")
    arguments = parser.parse_args()
    base = {
        k: v for k, v in os.environ.items() if k not in CREDENTIALS and not k.startswith("BIODATA_CACHE_")
    }
    interpreters = dict(item.split("=", 1) for item in arguments.python)
    for root in [r for r in (arguments.local, arguments.s3) if r]:
        environment = {**base, "BIODATA_CACHE_ROOT": root}
        if root.startswith("s3://"):
            environment["AWS_ENDPOINT_URL"] = arguments.endpoint
        where = _object(root, arguments.endpoint, arguments.call.split("(")[0])
        get = (
            f"import urllib.request; urllib.request.urlopen({where!r}).read()"
            if root.startswith("s3://")
            else f"open({where!r}, 'rb').read()"
        )
        commands = {"floor": [sys.executable, "-c", f"import pyarrow.parquet, pandas; {get}"]}
        one_liner = ONE_LINER.format(call=arguments.call)
        commands |= {name: [path, "-c", one_liner] for name, path in interpreters.items()}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # warm the file cache once
            _seconds(command, environment)
        names = list(commands)
        for run in range(arguments.runs):
            for name in names[run % len(names) :] + names[: run % len(names)]:
                times[name].append(_seconds(commands[name], environment))
        floor = statistics.median(times["floor"])
        print(f"\n{arguments.call} on {root} (median of {arguments.runs} fresh processes, interleaved)")
        for name, values in times.items():
            median = statistics.median(values)
            print(
                f"  {name:8s} {median * 1000:7.0f} ms  x{median / floor:4.2f} of the floor  "
                f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"
            )
    for failure in FAILURES:
        print("  failed:", failure)


if __name__ == "__main__":
    main()
