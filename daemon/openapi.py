"""The OpenAPI 3.1 document of the daemon's JSON API, served at ``/api/openapi.json``
(a test checks it names every route the server has, and nothing else)."""

from __future__ import annotations

from typing import Any

from onion.core.version import __version__

_ERROR = {"description": "An error, as JSON",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: dict[str, Any] | None = None,
        media: str = "application/json") -> dict[str, Any]:
    return {"200": {"description": description,
                    "content": {media: {"schema": schema or {"type": "object"}}}},
            "400": _ERROR, "401": _ERROR, "500": _ERROR, "503": _ERROR}


def _body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"required": bool(required), "content": {"application/json": {"schema": {
        "type": "object", "properties": props, "required": required or [],
        "additionalProperties": False}}}}


_SINCE = {"name": "since", "in": "query", "required": False,
          "schema": {"type": "string", "default": "7d"},
          "description": "Window: 12h, 7d, 2w …"}
_LIMIT = {"name": "limit", "in": "query", "required": False,
          "schema": {"type": "integer", "minimum": 1}, "description": "Rows at most"}
_ROWS = {"type": "object", "properties": {
    "columns": {"type": "array", "items": {"type": "string"}},
    "rows": {"type": "array", "items": {"type": "array"}},
    "truncated": {"type": "boolean"}}}
_ROUND = {"type": "object", "properties": {
    "run_id": {"type": ["integer", "null"]}, "reason": {"type": "string"},
    "started_at": {"type": "string", "format": "date-time"},
    "wall_s": {"type": ["number", "null"]}, "hosts": {"type": "integer"},
    "ok": {"type": "integer"}, "failed": {"type": "integer"}, "stored": {"type": "boolean"},
    "statuses": {"type": "object", "additionalProperties": {"type": "string"}}}}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Onion daemon API", "version": __version__,
             "description": "JSON over a 0600 Unix socket, or over TCP with TLS and a bearer "
                            "token. Every error is {\"error\": message, \"status\": code}."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"}, "status": {"type": "integer"}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/healthz": {"get": {"summary": "Alive (the only path without a token)",
                             "security": [], "responses": _ok("ok and version")}},
        "/api/status": {"get": {"summary": "The daemon: rounds, next round, queue, "
                                           "connections", "responses": _ok("status")}},
        "/api/hosts": {"get": {"summary": "Inventory hosts with their last status and the "
                                          "probes that are not ok", "responses": _ok("hosts")}},
        "/api/tables": {"get": {"summary": "Tables with latest rows",
                                "responses": _ok("table names")}},
        "/api/latest/{table}": {"get": {
            "summary": "Each host's newest rows of a table",
            "parameters": [{"name": "table", "in": "path", "required": True,
                            "schema": {"type": "string"}},
                           {"name": "host", "in": "query", "required": False,
                            "schema": {"type": "string"}}, _LIMIT],
            "responses": _ok("rows", _ROWS)}},
        "/api/alerts": {"get": {"summary": "Alerts firing now, and the history",
                                "parameters": [_SINCE, _LIMIT],
                                "responses": _ok("firing and history")}},
        "/api/alerts/stream": {"get": {
            "summary": "Alert events as they are judged (server-sent events: event: alert)",
            "responses": _ok("an event stream", {"type": "string"}, "text/event-stream")}},
        "/api/query": {"post": {
            "summary": "One read-only SELECT (row and time limits apply)",
            "requestBody": _body({"sql": {"type": "string"},
                                  "max_rows": {"type": "integer", "minimum": 1}}, ["sql"]),
            "responses": _ok("rows", _ROWS)}},
        "/api/poll": {"post": {
            "summary": "Poll now: every host, or those a --limit pattern selects; answers "
                       "when the round is stored",
            "requestBody": _body({"limit": {"type": ["string", "null"]}}),
            "responses": {**_ok("the round", _ROUND), "409": _ERROR}}},
        "/api/reload": {"post": {"summary": "Reload config and inventory (as SIGHUP)",
                                 "responses": {**_ok("reloaded"), "409": _ERROR}}},
        "/api/v1/batches": {"post": {
            "summary": "A central only: a poller's batch (gzip-compressed JSON, "
                       "application/vnd.onion.batch+gzip), with that poller's token; stored "
                       "once, 200 also for a batch already stored (duplicate: true)",
            "requestBody": {"required": True, "content": {
                "application/vnd.onion.batch+gzip": {"schema": {"type": "string",
                                                                "format": "binary"}}}},
            "responses": {**_ok("stored or duplicate", {"type": "object", "properties": {
                "stored": {"type": "boolean"}, "duplicate": {"type": "boolean"},
                "run_id": {"type": ["integer", "null"]}, "rows": {"type": "integer"}}}),
                "401": _ERROR, "404": _ERROR, "413": _ERROR, "422": _ERROR,
                "503": _ERROR}}},
        "/api/openapi.json": {"get": {"summary": "This document",
                                      "responses": _ok("OpenAPI 3.1")}},
        "/metrics": {"get": {"summary": "Prometheus text exposition: fleet and daemon",
                             "responses": _ok("metrics", {"type": "string"}, "text/plain")}},
        "/report": {"get": {"summary": "Redirects to /report/",
                            "responses": {"302": {"description": "to /report/"}}}},
        "/report/{page}": {"get": {
            "summary": "The live HTML report (index.html, alerts.html, changes.html, "
                       "hosts/NAME.html), rendered on request and cached per round",
            "parameters": [{"name": "page", "in": "path", "required": True,
                            "schema": {"type": "string"}}, _SINCE],
            "responses": {**_ok("a page", {"type": "string"}, "text/html"),
                          "404": _ERROR}}},
    },
}
