"""A fake DocDB REST API as a requests transport adapter, for the real MetadataDbClient.

Serves ``GET https://<host>/v2/metadata_index/data_assets/find`` from records in memory with MongoDB
semantics: filters (``$and``, ``$or``, ``$gt``/``$gte``/``$lt``/``$lte``, ``$in``/``$nin``, ``$eq``/
``$ne``, ``$exists``) and inclusion projections that traverse arrays, ``sort``, ``skip`` and ``limit``,
and a page cap (the API returns at most ``page_cap`` records per call) so the client's skip loop runs.
It can fail the first requests with HTTP 503 to exercise retries. No network is used.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import requests
from requests.adapters import BaseAdapter

_MISSING = object()


def _values(document: Any, parts: list[str]) -> list[Any]:
    """Every value at a dotted path, descending into arrays (MongoDB's path semantics)."""
    if not parts:
        return [document] + (list(document) if isinstance(document, list) else [])
    if isinstance(document, list):
        return [v for item in document for v in _values(item, parts)]
    if isinstance(document, dict) and parts[0] in document:
        return _values(document[parts[0]], parts[1:])
    return []


def _compare(value: Any, operator: str, argument: Any) -> bool:
    if operator == "$eq":
        return value == argument
    if operator == "$ne":
        return value != argument
    if operator == "$in":
        return value in argument
    if operator == "$nin":
        return value not in argument
    try:
        if operator == "$gt":
            return value > argument
        if operator == "$gte":
            return value >= argument
        if operator == "$lt":
            return value < argument
        if operator == "$lte":
            return value <= argument
    except TypeError:
        return False
    raise ValueError(f"unsupported operator {operator}")


def matches(document: dict, query: dict) -> bool:
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(document, q) for q in condition):
                return False
            continue
        if key == "$or":
            if not any(matches(document, q) for q in condition):
                return False
            continue
        values = _values(document, key.split("."))
        if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
            for operator, argument in condition.items():
                if operator == "$exists":
                    if bool(values) != bool(argument):
                        return False
                elif operator in ("$ne", "$nin"):
                    if not all(_compare(v, operator, argument) for v in values):
                        return False
                elif not any(_compare(v, operator, argument) for v in values):
                    return False
        elif condition not in values:
            return False
    return True


def _include(source: Any, paths: list[list[str]]) -> Any:
    if isinstance(source, list):
        return [p for p in (_include(item, paths) for item in source) if p is not _MISSING]
    if not isinstance(source, dict):
        return _MISSING
    result: dict[str, Any] = {}
    for key in dict.fromkeys(path[0] for path in paths):
        if key not in source:
            continue
        rest = [path[1:] for path in paths if path[0] == key]
        if any(not r for r in rest):
            result[key] = source[key]
        else:
            value = _include(source[key], rest)
            if value is not _MISSING:
                result[key] = value
    return result


def project(document: dict, projection: dict | None) -> dict:
    if not projection:
        return document
    paths = [p.split(".") for p, on in projection.items() if on and p != "_id"]
    result = _include(document, paths)
    if projection.get("_id", 1) and "_id" in document:
        result = {"_id": document["_id"], **result}
    return result


class FakeDocDB(BaseAdapter):
    """Transport adapter serving records like the DocDB REST API."""

    def __init__(self, records: list[dict], *, page_cap: int = 50, fail_first: int = 0) -> None:
        super().__init__()
        self.records = records
        self.page_cap = page_cap
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urllib.parse.urlsplit(request.url)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        self.requests.append({"path": url.path, "params": params, "timeout": kwargs.get("timeout")})
        response = requests.Response()
        response.request = request
        response.url = request.url
        if self.fail_first > 0:
            self.fail_first -= 1
            response.status_code = 503
            response._content = b'{"message": "Service Unavailable"}'
            return response
        if not url.path.endswith("/v2/metadata_index/data_assets/find"):
            response.status_code = 404
            response._content = b"{}"
            return response
        query = json.loads(params.get("filter", "{}"))
        projection = json.loads(params["projection"]) if "projection" in params else None
        sort = json.loads(params["sort"]) if "sort" in params else None
        found = [r for r in self.records if matches(r, query)]
        for key, direction in reversed(list((sort or {}).items())):
            found.sort(key=lambda r, k=key: str(r.get(k)), reverse=direction < 0)
        skip, limit = int(params.get("skip", 0)), int(params.get("limit", 0))
        page = found[skip:]
        page = page[: min(limit, self.page_cap) if limit else self.page_cap]
        response.status_code = 200
        response._content = json.dumps([project(r, projection) for r in page]).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    def close(self) -> None:
        pass


def session_for(adapter: FakeDocDB) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    return session
