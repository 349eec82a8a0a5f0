#!/usr/bin/env python3
"""Fake of the Sinch SMS REST API (xms/v1) plus the Sinch OAuth2 token endpoint.

Python 3.11 standard library only.  It follows the wire contract in
``shared/sinch/contract.md`` and accepts every request in
``shared/sinch/sdk-captures/*.json`` (see ``test_sinch_fake.py``).

Used by the C++ component tests, the httpd integration tests, the benchmark
and the product's "run" script.  Start it with::

    python3 sinch_fake.py --listen 127.0.0.1:0 --port-file /tmp/port

or via ``fakectl.sh start STATE_DIR``.  See README.md for the control API
(``/_fake/...``).

Served API
----------
* ``POST /oauth2/token``  (Basic key_id:key_secret, ``grant_type=client_credentials``)
* ``/xms/v1/{project_id|service_plan_id}/batches``  GET list, POST create
* ``/xms/v1/{id}/batches/dry_run``  POST
* ``/xms/v1/{id}/batches/{batch_id}``  GET, POST (update), PUT (replace), DELETE (cancel)
* ``/xms/v1/{id}/batches/{batch_id}/delivery_report``  GET
* ``/xms/v1/{id}/batches/{batch_id}/delivery_report/{msisdn}``  GET
* ``/xms/v1/{id}/batches/{batch_id}/delivery_feedback``  POST
Everything else under ``/xms/v1/{id}/`` (groups, inbounds, the
``delivery_reports`` list) answers 404.

Validation error codes (400, ``{"code": ..., "text": ...}``) are used
consistently like this:

* ``syntax_invalid_json`` - body is not JSON, not a JSON object, or a field has
  the wrong JSON type (e.g. ``"to": "123"`` or ``"flash_message": "yes"``);
* ``syntax_invalid_parameter_format`` - a string value has a bad format
  (MSISDN, sender, ISO-8601 date, URL, enum value, ``type``, query values);
* ``syntax_constraint_violation`` - a required field is missing, or a size /
  range / ordering constraint is broken (``to`` 0 or >1000 items, body >2000
  chars, ``expire_at`` not after ``send_at`` or more than 3 days after it with
  ``--expire-policy reject``, ``page_size`` outside 1..100, ...).

Checks run in this order: path id + Authorization (401), route (404/405),
Content-Type (415), batch lookup (404), body validation (400), batch state
(403 ``batch_already_dispatched``), cross-field rules (400 expire_at, 403
``missing_callback_url``).

UNCONFIRMED choices
-------------------
Every point that contract.md marks UNCONFIRMED, and what this fake does:

1. zt./plain hosts, AU/BR/CA OAuth2: not modelled - one listener serves the
   token endpoint and both auth modes.  The path id decides the mode: the
   configured project id needs a live OAuth2 token, the service plan id needs
   ``Bearer <api_token>``.  Any other combination answers 401.
2. Token endpoint error bodies: RFC 6749 style.  Wrong/missing client
   credentials -> 401 ``{"error":"invalid_client",...}`` with
   ``WWW-Authenticate: Basic realm="sinch"``; missing grant_type -> 400
   ``invalid_request``; other grant -> 400 ``unsupported_grant_type``; a body
   that is not ``application/x-www-form-urlencoded`` -> 400
   ``invalid_request``.  Client credentials may also be sent as
   ``client_id``/``client_secret`` form fields (RFC 6749 client_secret_post).
   Tokens are well-formed JWTs (HS256, signed with a random per-process key)
   whose ``exp`` follows the fake clock; ``token_type`` is ``bearer``.
3. Accepted ISO-8601 variants: extended ``YYYY-MM-DD[Thh:mm[:ss[.f+]]][Z|+hh[:mm]|-hh[:mm]]``
   and basic ``YYYYMMDD[Thhmm[ss[.f+]]][Z|+hh[mm]]`` (so ``2014-10-02T09:30Z``
   and ``20140623TZ`` work), ``,`` as decimal mark, a space instead of
   ``T``; date-only means midnight; no offset means UTC; fractions beyond
   milliseconds are truncated.  Anything else -> 400
   ``syntax_invalid_parameter_format``.
4. API-side rate limits / 429 + Retry-After: none by default; inject them
   with a fault rule (``status: 429`` and ``headers: {"Retry-After": "1"}``),
   or account-wide with ``POST /_fake/rate_limit`` (every /xms request answers
   429 for a while; the token endpoint is a separate service and is not
   limited).
5. How far ahead ``send_at`` may lie: no limit.  ``send_at`` in the past is
   accepted and the batch is dispatched at once.
6. ``expire_at`` > ``send_at`` + 3 days: ``--expire-policy reject`` (default)
   -> 400 ``syntax_constraint_violation``; ``clamp`` -> silently clamped to
   ``send_at`` + 3 days.  ``expire_at`` <= ``send_at`` -> 400
   ``syntax_constraint_violation`` under both policies.  "send_at" here means
   the effective send time (creation time if no ``send_at``).
7. ``send_at`` is omitted from batch responses when it was never given (and
   when it was cleared with ``null`` in an update).  ``expire_at`` is always
   present (default: effective send time + 3 days).
8. Dry run encoding for non-GSM bodies: ``"unicode"`` (GSM-7 bodies give
   ``"text"``).  Parts: GSM-7 160/153 septets (extension chars count 2),
   UCS-2 70/67 UTF-16 units; ``truncate_concat: true`` -> 1 part.
   ``number_of_recipients`` query default 100, 1..1000; ``per_recipient``
   default false.  Dry runs apply full send validation incl. 403
   ``missing_callback_url``.
9. ``delivery_feedback``: 202 Accepted with an empty body (Content-Length 0);
   it is accepted whether or not ``feedback_enabled`` was set (recorded in the
   batch's internal state); ``recipients`` must be present and a list of
   valid MSISDNs, else 400.
10. Cancel of a dispatched batch: 200 with ``canceled: true`` by default (the
    delivery statuses do not change); ``--cancel-dispatched-status 409``
    answers 409 ``{"code":"conflict_send_at",...}`` and leaves the batch
    untouched.  Cancelling an already cancelled batch -> 200, ``canceled:
    true`` (a cancelled batch never becomes dispatched).  The first successful
    cancel bumps ``modified_at``.
11. Update/replace of a cancelled batch -> 403 ``batch_already_dispatched``
    (same as after dispatch).  Replace after dispatch -> the same 403.
12. Update with a new ``send_at`` moves ``expire_at`` along (send_at + 3 d)
    if ``expire_at`` was never set explicitly; an explicit ``expire_at`` is
    re-checked against the new ``send_at`` (policy 6).  In an update an
    explicit ``null`` clears an optional field (``delivery_report`` -> none,
    ``flash_message`` -> false, ``send_at`` -> send now).  ``to_add`` is
    applied before ``to_remove``; an update leaving no recipient -> 400
    ``syntax_constraint_violation``.
13. ``client_reference`` list filter: exact, case-sensitive match.
14. Query strings: values are percent-decoded with ``urllib.parse.unquote``
    (NOT form decoding), so a raw ``+`` stays ``+`` (the Node SDK sends
    ``from=+1555...`` and ISO dates with raw ``:``/``+`` unencoded) and
    ``%2B`` is ``+`` too.  A space therefore only comes from ``%20``.  The
    ``from`` filter normalises each comma-separated value like an MSISDN, so
    ``+1555``, ``%2B1555``, ``001555`` and ``1555`` all match.  Paths are
    percent-decoded per segment the same way (raw ``+`` in the recipient
    report path works).
15. Error shapes: 401 -> ``{"code":"unauthorized","text":...}`` (the shape in
    capture 14); 404 -> ``{"code":"not_found",...}``; 405 ->
    ``{"code":"method_not_allowed",...}`` + ``Allow``; 415 ->
    ``{"code":"unsupported_media_type",...}``.  The Google-style shape
    ``{"error":{"code","message","status","details":[]}}`` is only produced by
    fault rules with ``"shape": "google"``.
16. Content-Type: endpoints that take a JSON body (create, update, replace,
    dry run, feedback) require ``application/json`` (parameters such as
    ``charset`` allowed) -> else 415; any other /xms request that carries a
    non-empty body with a non-JSON content type also gets 415.  GET/DELETE
    without a body are not checked (the SDK sends ``Content-Type:
    application/json`` on them anyway).
17. Delivery state: each recipient starts ``Queued``/400; when the batch is
    dispatched (effective send time <= fake now) it becomes
    ``Dispatched``/401 and stays there until ``POST /_fake/callbacks/...``
    sets another status (nothing reaches a final status on its own, nothing
    expires automatically).  A batch cancelled before dispatch has an EMPTY
    batch delivery report (``total_message_count`` 0, ``statuses`` []) as the
    contract says, while the recipient report answers ``Cancelled``/407.  The
    batch report for a pending batch lists the ``Queued`` recipients.
    ``total_message_count`` ignores the ``status``/``code`` filters.
    ``type`` other than summary/full -> 404.
18. Callback signing: only when ``sign_secret`` is given to
    ``/_fake/callbacks``; the timestamp is real Unix time in seconds (not the
    fake clock) unless overridden, the nonce is random.
19. MSISDNs: after removing spaces, tabs, ``-``, ``(``, ``)``, ``[``, ``]``
    and one leading ``+`` or ``00`` the rest must be 3..15 digits not
    starting with 0; group ids (letters) are rejected with
    ``syntax_invalid_parameter_format`` ("Invalid MSISDN ...").  Duplicates in
    ``to`` are collapsed (first occurrence kept).  ``from``: numeric senders
    are normalised the same way (1..15 digits); alphanumeric senders are 1..11
    printable ASCII characters and echoed unchanged.  ``from`` is optional.
    By default the service plan has a default originator, so a batch without
    ``from`` is sent normally (``from`` is omitted from the answer).  With
    ``--no-default-originator`` (or config ``default_originator: false``) such
    a batch is still accepted (201), but once dispatched its recipients get
    ``Aborted``/410 ("Unmatched default originator", contract 6.3) instead of
    ``Dispatched``/401.
20. ``type``: absent or ``mt_text``; ``mt_binary``/``mt_media``/anything else
    -> 400 ``syntax_invalid_parameter_format``.  Unknown request fields are
    ignored.  ``parameters``: object of objects of strings, keys
    ``[A-Za-z0-9._-]{1,16}``, values <= 160 chars.
21. List: ``page`` >= 0 (non-number -> 400 ``syntax_invalid_parameter_format``),
    ``page_size`` 1..100 (outside -> 400 ``syntax_constraint_violation``),
    only batches created within 14 days before fake now, newest first
    (creation order breaks ties), ``page_size`` in the answer = items in it.
22. ``--default-callback-url`` models a service-plan default callback URL
    (absent by default, so delivery_report != none without callback_url ->
    403 ``missing_callback_url``).
23. Inbound messages, groups and STOP/opt-out handling (contract section 8)
    are not modelled: ``/inbounds``, ``/groups`` and ``/delivery_reports``
    answer 404, and MTs to a number are never blocked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import concurrent.futures
import datetime as _dt
import email.utils
import functools
import hashlib
import hmac
import http.client
import json
import math
import os
import queue
import random
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
from http import HTTPStatus

MS_PER_DAY = 86_400_000
THREE_DAYS_MS = 3 * MS_PER_DAY
LIST_WINDOW_MS = 14 * MS_PER_DAY
MAX_BODY_BYTES = 16 * 1024 * 1024

DELIVERY_REPORT_TYPES = ("none", "summary", "full", "per_recipient", "per_recipient_final")
DELIVERY_STATUSES = ("Queued", "Dispatched", "Delivered", "Failed", "Aborted", "Rejected",
                     "Expired", "Cancelled", "Deleted", "Unknown")
DEFAULT_STATUS_CODES = {"Delivered": 0, "Queued": 400, "Dispatched": 401, "Cancelled": 407}
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

GSM7_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                 "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXT = set("^{}\\[~]|€\f")

GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
FAULT_CODES = {400: "syntax_constraint_violation", 401: "unauthorized", 403: "forbidden",
               404: "not_found", 409: "conflict", 429: "too_many_requests",
               500: "internal_error", 502: "bad_gateway", 503: "service_unavailable",
               504: "gateway_timeout"}


# --------------------------------------------------------------------------------------------
# helpers: time, ids, MSISDNs, query strings
# --------------------------------------------------------------------------------------------

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

_ISO_EXT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](?:(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?$")
_ISO_BASIC = re.compile(
    r"^(\d{4})(\d{2})(\d{2})"
    r"(?:[Tt](?:(\d{2})(\d{2})(?:(\d{2})(?:[.,](\d+))?)?)?)?"
    r"(Z|z|[+-]\d{2}(?:\d{2})?)?$")


def parse_iso(value):
    """ISO-8601 string -> epoch milliseconds (int), or None if not accepted."""
    if not isinstance(value, str):
        return None
    s = value.strip()
    m = _ISO_EXT.match(s) or _ISO_BASIC.match(s)
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        offset = _dt.timedelta(0)
        if tz and tz not in ("Z", "z"):
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            oh, om = int(digits[:2]), int(digits[2:4] or "0")
            if oh > 23 or om > 59:
                return None
            offset = sign * _dt.timedelta(hours=oh, minutes=om)
        dt = _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                          micro, tzinfo=_dt.timezone(offset))
    except ValueError:
        return None
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@functools.lru_cache(maxsize=256)
def _fmt_day(day):
    """days since the epoch -> 'YYYY-MM-DD'."""
    return (_EPOCH + _dt.timedelta(days=day)).strftime("%Y-%m-%d")


def fmt_ms(ms):
    """epoch ms -> 'YYYY-MM-DDThh:mm:ss.SSSZ' (UTC).  Hot path (4 calls per batch create): the date part
    is cached per day and the time part is plain arithmetic."""
    s, milli = divmod(ms, 1000)
    day, s = divmod(s, 86_400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return "%sT%02d:%02d:%02d.%03dZ" % (_fmt_day(day), h, m, s, milli)


def fmt_s(ms):
    """epoch ms -> 'YYYY-MM-DDThh:mm:ssZ' (operator_status_at style)."""
    return (_EPOCH + _dt.timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_batch_id(ms):
    """26-char ULID-like id, Crockford base32, uppercase."""
    v = ((ms & ((1 << 48) - 1)) << 80) | int.from_bytes(os.urandom(10), "big")
    out = []
    for _ in range(26):
        out.append(CROCKFORD[v & 31])
        v >>= 5
    return "".join(reversed(out))


_MSISDN_STRIP = re.compile(r"[\s\-()\[\]]")
_MSISDN_DIGITS = re.compile(r"[1-9][0-9]{2,14}")


def normalize_msisdn(value):
    """'+1 (555) 123-4567' / '0015551234567' / '15551234567' -> '15551234567'; None if invalid."""
    if not isinstance(value, str):
        return None
    t = _MSISDN_STRIP.sub("", value)
    if t.startswith("+"):
        t = t[1:]
    elif t.startswith("00"):
        t = t[2:]
    return t if _MSISDN_DIGITS.fullmatch(t) else None


def normalize_sender(value):
    """Numeric senders like MSISDNs (1..15 digits, no +/00), alphanumeric 1..11 printable chars."""
    if not isinstance(value, str):
        return None
    t = _MSISDN_STRIP.sub("", value)
    m = re.fullmatch(r"(\+|00)?([0-9]+)", t)
    if m:
        digits = m.group(2)
        return digits if 1 <= len(digits) <= 15 else None
    if 1 <= len(value) <= 11 and all(32 <= ord(c) < 127 for c in value) and value.strip():
        return value
    return None


def parse_query(qs):
    """Raw query string -> {key: [values]}.  Percent-decoding only: a literal '+' stays '+'."""
    out = {}
    if not qs:
        return out
    for part in qs.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out.setdefault(urllib.parse.unquote(k, errors="replace"), []).append(
            urllib.parse.unquote(v, errors="replace"))
    return out


def qget(params, key):
    vals = params.get(key)
    return vals[-1] if vals else None


def valid_url(value):
    try:
        u = urllib.parse.urlsplit(value)
        _ = u.port
    except ValueError:
        return False
    if u.scheme.lower() not in ("http", "https") or not u.hostname:
        return False
    return not any(c.isspace() or ord(c) < 32 for c in value)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def message_parts(text, truncate=False):
    """(number_of_parts, encoding) the way the dry run reports them."""
    if all(c in GSM7_BASIC or c in GSM7_EXT for c in text):
        n = sum(2 if c in GSM7_EXT else 1 for c in text)
        parts = 1 if n <= 160 else math.ceil(n / 153)
        enc = "text"
    else:
        n = len(text.encode("utf-16-le")) // 2
        parts = 1 if n <= 70 else math.ceil(n / 67)
        enc = "unicode"
    return (1 if truncate else parts), enc


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class ApiError(Exception):
    def __init__(self, status, code, text, headers=None):
        super().__init__(text)
        self.status, self.code, self.text = status, code, text
        self.headers = headers or {}


def bad(code, text, status=400):
    return ApiError(status, code, text)


_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # = json.dumps(..., same args)


class Response:
    __slots__ = ("status", "body", "headers", "content_type", "close")

    def __init__(self, status, body=None, headers=None, content_type=None, close=False):
        self.status = status
        self.headers = dict(headers or {})
        self.close = close
        if body is None:
            self.body = b""
            self.content_type = content_type
        elif isinstance(body, (bytes, bytearray)):
            self.body = bytes(body)
            self.content_type = content_type or "application/octet-stream"
        elif isinstance(body, str):
            self.body = body.encode("utf-8")
            self.content_type = content_type or "text/plain; charset=utf-8"
        else:
            self.body = _json_encode(body).encode("utf-8")
            self.content_type = content_type or "application/json"


def err_response(e: ApiError):
    return Response(e.status, {"code": e.code, "text": e.text}, e.headers)


# --------------------------------------------------------------------------------------------
# request-body validation
# --------------------------------------------------------------------------------------------

BOOL_FIELDS = ("feedback_enabled", "flash_message", "truncate_concat")
INT_FIELDS = {"max_number_of_message_parts": (1, None), "from_ton": (0, 6), "from_npi": (0, 18)}
PARAM_KEY = re.compile(r"[A-Za-z0-9._-]{1,16}")


def _msisdn_list(obj, field, lo, hi):
    v = obj[field]
    if not isinstance(v, list):
        raise bad("syntax_invalid_json", f"'{field}' must be an array of strings")
    if len(v) < lo or len(v) > hi:
        raise bad("syntax_constraint_violation",
                  f"'{field}' must contain between {lo} and {hi} items (got {len(v)})")
    out = []
    seen = set()
    for item in v:
        if not isinstance(item, str):
            raise bad("syntax_invalid_json", f"'{field}' must be an array of strings")
        n = normalize_msisdn(item)
        if n is None:
            raise bad("syntax_invalid_parameter_format", f"Invalid MSISDN: {item!r}")
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


def validate_fields(obj, mode):
    """Validate a send/replace/dry-run (mode='create') or update (mode='update') body.

    Returns {field: normalised value}; in update mode None means "clear" (explicit null)."""
    if not isinstance(obj, dict):
        raise bad("syntax_invalid_json", "request body must be a JSON object")
    f = {}
    present = {k for k, v in obj.items() if v is not None} if mode == "create" else set(obj)

    if mode == "create":
        if "to" not in present:
            raise bad("syntax_constraint_violation", "'to' is required")
        f["to"] = _msisdn_list(obj, "to", 1, 1000)
        if "body" not in present:
            raise bad("syntax_constraint_violation", "'body' is required")
    else:
        for key in ("to_add", "to_remove"):
            if key in present and obj[key] is not None:
                f[key] = _msisdn_list(obj, key, 1, 100)

    if "body" in present and obj["body"] is not None:
        b = obj["body"]
        if not isinstance(b, str):
            raise bad("syntax_invalid_json", "'body' must be a string")
        if len(b) > 2000:
            raise bad("syntax_constraint_violation", f"'body' is longer than 2000 characters ({len(b)})")
        f["body"] = b
    elif "body" in present and mode == "update":
        raise bad("syntax_constraint_violation", "'body' cannot be cleared")

    if "type" in present and obj["type"] is not None:
        t = obj["type"]
        if not isinstance(t, str):
            raise bad("syntax_invalid_json", "'type' must be a string")
        if t != "mt_text":
            raise bad("syntax_invalid_parameter_format",
                      f"unsupported 'type' {t!r}: this fake only implements mt_text")

    if "from" in present:
        v = obj["from"]
        if v is None:
            f["from"] = None
        else:
            if not isinstance(v, str):
                raise bad("syntax_invalid_json", "'from' must be a string")
            n = normalize_sender(v)
            if n is None:
                raise bad("syntax_invalid_parameter_format", f"Invalid originator: {v!r}")
            f["from"] = n

    if "delivery_report" in present:
        v = obj["delivery_report"]
        if v is not None and not isinstance(v, str):
            raise bad("syntax_invalid_json", "'delivery_report' must be a string")
        if v is not None and v not in DELIVERY_REPORT_TYPES:
            raise bad("syntax_invalid_parameter_format",
                      f"Invalid delivery_report {v!r}; expected one of {', '.join(DELIVERY_REPORT_TYPES)}")
        f["delivery_report"] = v

    for key in ("send_at", "expire_at"):
        if key in present:
            v = obj[key]
            if v is None:
                f[key] = None
                continue
            if not isinstance(v, str):
                raise bad("syntax_invalid_json", f"'{key}' must be an ISO-8601 string")
            ms = parse_iso(v)
            if ms is None:
                raise bad("syntax_invalid_parameter_format", f"Invalid ISO-8601 date-time in '{key}': {v!r}")
            f[key] = ms

    if "callback_url" in present:
        v = obj["callback_url"]
        if v is not None:
            if not isinstance(v, str):
                raise bad("syntax_invalid_json", "'callback_url' must be a string")
            if len(v) > 2048:
                raise bad("syntax_constraint_violation", "'callback_url' is longer than 2048 characters")
            if v and not valid_url(v):
                raise bad("syntax_invalid_parameter_format", f"Invalid callback_url: {v!r}")
        f["callback_url"] = v or None

    if "client_reference" in present:
        v = obj["client_reference"]
        if v is not None:
            if not isinstance(v, str):
                raise bad("syntax_invalid_json", "'client_reference' must be a string")
            if len(v) > 2048:
                raise bad("syntax_constraint_violation", "'client_reference' is longer than 2048 characters")
        f["client_reference"] = v

    for key in BOOL_FIELDS:
        if key in present:
            v = obj[key]
            if v is not None and not isinstance(v, bool):
                raise bad("syntax_invalid_json", f"'{key}' must be a boolean")
            f[key] = v

    for key, (lo, hi) in INT_FIELDS.items():
        if key in present:
            v = obj[key]
            if v is not None:
                if not is_int(v):
                    raise bad("syntax_invalid_json", f"'{key}' must be an integer")
                if v < lo or (hi is not None and v > hi):
                    rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
                    raise bad("syntax_constraint_violation", f"'{key}' must be {rng}")
            f[key] = v

    if "parameters" in present:
        v = obj["parameters"]
        if v is not None:
            if not isinstance(v, dict):
                raise bad("syntax_invalid_json", "'parameters' must be an object")
            for pk, pv in v.items():
                if not PARAM_KEY.fullmatch(pk):
                    raise bad("syntax_constraint_violation",
                              f"parameter key {pk!r} must be 1..16 of letters, digits, '.', '-', '_'")
                if not isinstance(pv, dict):
                    raise bad("syntax_invalid_json", f"parameter {pk!r} must be an object")
                for rk, rv in pv.items():
                    if not isinstance(rv, str):
                        raise bad("syntax_invalid_json", f"parameter {pk!r} values must be strings")
                    if len(rv) > 160:
                        raise bad("syntax_constraint_violation",
                                  f"parameter {pk!r} value for {rk!r} is longer than 160 characters")
        f["parameters"] = v
    return f


# --------------------------------------------------------------------------------------------
# the fake's state and API
# --------------------------------------------------------------------------------------------

class Fake:
    def __init__(self, args):
        self.args = args
        self.verbose = args.verbose
        self.lock = threading.RLock()
        self.jwt_key = secrets.token_bytes(32)
        modes = args.auth_modes
        self.project_enabled = modes in ("both", "project")
        self.plan_enabled = modes in ("both", "service-plan")
        # Set by FakeServer: called (from any thread) with a fault rule id, or None for all rules, to let
        # the requests held by `hold` rules go on.
        self.on_release = None
        # Fault rule id -> requests it holds now (kept by FakeServer).  Its own lock: the event loop must not
        # wait for self.lock, which a control call may hold for long.
        self.held_now = collections.Counter()
        self.held_lock = threading.Lock()
        self.reset()

    # ---- state ----
    def reset(self):
        with self.lock:
            a = self.args
            self.config = {
                "token_ttl": a.token_ttl,
                "expire_policy": a.expire_policy,
                "cancel_dispatched_status": a.cancel_dispatched_status,
                "default_callback_url": a.default_callback_url,
                "seed": a.seed,
                "default_originator": getattr(a, "default_originator", True),
            }
            self.rng = random.Random(a.seed)
            self.offset_ms = 0
            self.batches = {}
            self.batch_seq = 0
            self.tokens = collections.OrderedDict()
            self.requests = collections.deque(maxlen=a.max_recorded)
            self.req_seq = 0
            self.faults = []
            self.fault_seq = 0
            self.stats = collections.Counter()
            self.creates_by_ref = collections.Counter()
            self.revoked_until = None      # monotonic deadline (math.inf: until restored); None: keys work
            self.rate_limit_until = None   # monotonic deadline of an account-wide 429; None: off
            self.rate_limit_retry_after = None
        release = self.on_release
        if release is not None:
            release(None)  # held requests go on

    def now_ms(self):
        return int(time.time() * 1000) + self.offset_ms

    # ---- account-wide states (real clock) ----
    def keys_revoked(self):
        """True while the credentials are revoked (POST /_fake/credentials)."""
        until = self.revoked_until
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        with self.lock:
            if self.revoked_until == until:
                self.revoked_until = None
        return False

    def rate_limit_response(self, path):
        """The 429 every /xms request gets while an account-wide rate limit is on, else None."""
        until = self.rate_limit_until
        if until is None or not path.startswith("/xms/"):
            return None
        left = until - time.monotonic()
        if left <= 0:
            with self.lock:
                if self.rate_limit_until == until:
                    self.rate_limit_until = None
            return None
        retry_after = self.rate_limit_retry_after
        if retry_after is None:
            retry_after = max(1, math.ceil(left))
        self.stats["rate_limited"] += 1
        return Response(429, {"code": "too_many_requests", "text": "account rate limit exceeded"},
                        {"Retry-After": str(retry_after)})

    @staticmethod
    def _remaining(until):
        if until is None:
            return None
        return None if until == math.inf else max(0.0, round(until - time.monotonic(), 3))

    # ---- request log ----
    def record(self, method, path, query, headers, body, tls=None):
        """Counts the request and keeps it in the ring buffer in raw form (body bytes, epoch ms); the
        shape the control API shows is built only when it is read (public_record).  The caller sets
        "status", "fault" and "dropped" on the returned dict.  tls: the connection's TLS version
        ("TLSv1.3"), None for plain HTTP."""
        with self.lock:
            self.req_seq += 1
            self.stats["requests"] += 1
            if not self.requests.maxlen:  # --max-recorded 0: record nothing
                return {"seq": self.req_seq}
            real = time.time()
            rec = {"seq": self.req_seq, "method": method, "path": path, "query": query, "headers": headers,
                   "body": body, "status": None, "at_ms": int(real * 1000) + self.offset_ms, "real_at": real,
                   "tls": tls}
            self.requests.append(rec)
            return rec

    @staticmethod
    def public_record(r):
        """A recorded request as GET /_fake/requests shows it."""
        body = r["body"]
        text = js = None
        if body:
            text = body.decode("utf-8", errors="replace")
            try:
                js = json.loads(text)
            except ValueError:
                js = None
        out = {"seq": r["seq"], "method": r["method"], "path": r["path"], "query": r["query"],
               "query_params": {k: v[-1] for k, v in parse_query(r["query"]).items()},
               "headers": r["headers"], "body": text, "json": js, "status": r["status"],
               "at": fmt_ms(r["at_ms"]), "real_at": r["real_at"], "answered_at": r.get("answered_at"),
               "tls": r.get("tls")}
        for k in ("fault", "dropped", "held", "rate_limited"):
            if k in r:
                out[k] = r[k]
        return out

    # ---- faults ----
    def add_fault(self, rule):
        if not isinstance(rule, dict):
            raise ValueError("a fault rule must be a JSON object")
        m = rule.get("match") or {}
        if not isinstance(m, dict):
            raise ValueError("'match' must be an object")
        methods = m.get("method")
        if isinstance(methods, str):
            methods = [methods]
        if methods is not None and not (isinstance(methods, list) and all(isinstance(x, str) for x in methods)):
            raise ValueError("'match.method' must be a string or a list of strings")
        compiled = {}
        for key in ("path_regex", "query_regex", "body_regex"):
            if m.get(key) is not None:
                try:
                    compiled[key] = re.compile(m[key])
                except (re.error, TypeError) as e:
                    raise ValueError(f"bad match.{key}: {e}") from None
        status = rule.get("status")
        if status is not None and not (is_int(status) and 100 <= status <= 599):
            raise ValueError("'status' must be an integer 100..599")
        prob = rule.get("probability", 1.0)
        if not isinstance(prob, (int, float)) or isinstance(prob, bool) or not 0 <= prob <= 1:
            raise ValueError("'probability' must be a number 0..1")
        count = rule.get("count")
        if count is not None and not (is_int(count) and count >= 0):
            raise ValueError("'count' must be null or an integer >= 0")
        skip = rule.get("skip", 0)
        if not (is_int(skip) and skip >= 0):
            raise ValueError("'skip' must be an integer >= 0")
        latency = rule.get("latency_ms", 0) or 0
        if not isinstance(latency, (int, float)) or isinstance(latency, bool) or latency < 0:
            raise ValueError("'latency_ms' must be a number >= 0")
        shape = rule.get("shape", "code_text")
        if shape not in ("code_text", "google"):
            raise ValueError("'shape' must be 'code_text' or 'google'")
        headers = rule.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError("'headers' must be an object")
        drop = bool(rule.get("act_then_drop", False))
        hold = bool(rule.get("hold", False))
        hold_max = rule.get("hold_max_ms")
        if hold_max is not None and (not isinstance(hold_max, (int, float)) or isinstance(hold_max, bool)
                                     or hold_max < 0):
            raise ValueError("'hold_max_ms' must be null or a number >= 0")
        act_first = bool(rule.get("act_first", False))
        if status is None and not drop and not latency and not hold:
            raise ValueError("a fault rule needs 'status', 'act_then_drop', 'latency_ms' or 'hold'")
        with self.lock:
            self.fault_seq += 1
            f = {"id": self.fault_seq, "match": m, "methods": [x.upper() for x in methods] if methods else None,
                 "re": compiled, "status": status, "has_body": "body" in rule, "body": rule.get("body"),
                 "headers": {str(k): str(v) for k, v in headers.items()}, "probability": float(prob),
                 "count": count, "skip": skip, "latency_ms": latency, "act_then_drop": drop,
                 "shape": shape, "fired": 0, "matched": 0, "hold": hold, "hold_max_ms": hold_max,
                 "act_first": act_first}
            self.faults.append(f)
            return f["id"]

    def fault_public(self, f):
        out = {k: f[k] for k in ("id", "match", "status", "body", "headers", "probability", "count",
                                 "skip", "latency_ms", "act_then_drop", "shape", "fired", "matched",
                                 "hold", "hold_max_ms", "act_first")}
        with self.held_lock:
            out["held"] = self.held_now.get(f["id"], 0)
        return out

    def release_held(self, rule_id):
        """Lets the requests that `hold` rules hold now go on (rule_id None: every rule's); returns how many."""
        with self.held_lock:
            n = sum(self.held_now.values()) if rule_id is None else self.held_now.get(rule_id, 0)
        release = self.on_release
        if release is not None:
            release(rule_id)
        return n

    def pick_fault(self, method, path, query, body):
        with self.lock:
            if not self.faults:
                return None
            text = None
            for f in self.faults:
                if f["count"] is not None and f["count"] <= 0:
                    continue
                if f["methods"] and method not in f["methods"]:
                    continue
                r = f["re"]
                if "path_regex" in r and not r["path_regex"].search(path):
                    continue
                if "query_regex" in r and not r["query_regex"].search(query):
                    continue
                if "body_regex" in r:
                    if text is None:
                        text = body.decode("utf-8", errors="replace")
                    if not r["body_regex"].search(text):
                        continue
                f["matched"] += 1
                if f["skip"] > 0:
                    f["skip"] -= 1
                    continue
                if f["probability"] < 1.0 and self.rng.random() >= f["probability"]:
                    continue
                if f["count"] is not None:
                    f["count"] -= 1
                f["fired"] += 1
                self.stats["faults_fired"] += 1
                return dict(f)
            return None

    @staticmethod
    def fault_response(f):
        status = f["status"]
        if f["has_body"]:
            body = f["body"]
        else:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = f"status {status}"
            if f["shape"] == "google":
                body = {"error": {"code": status, "message": f"injected fault: {phrase}",
                                  "status": GOOGLE_STATUS.get(status, "UNKNOWN"), "details": []}}
            else:
                body = {"code": FAULT_CODES.get(status, "error"), "text": f"injected fault: {phrase}"}
        return Response(status, body, f["headers"])

    # ---- tokens ----
    def issue_token(self):
        now = self.now_ms()
        ttl = int(self.config["token_ttl"])
        header = b64url(b'{"alg":"HS256","typ":"JWT"}')
        payload = b64url(json.dumps({
            "iss": "https://auth.sinch.com/sinch-fake", "sub": self.args.key_id,
            "aud": "https://sms.api.sinch.com", "iat": now // 1000, "exp": now // 1000 + ttl,
            "jti": secrets.token_hex(12)}, separators=(",", ":")).encode())
        sig = b64url(hmac.new(self.jwt_key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        tok = f"{header}.{payload}.{sig}"
        self.tokens[tok] = {"issued_at": now, "expires_at": now + ttl * 1000}
        while len(self.tokens) > 200_000:
            self.tokens.popitem(last=False)
        return tok, ttl

    def handle_token(self, method, headers, body):
        if method != "POST":
            return Response(405, {"error": "invalid_request", "error_description": "use POST"}, {"Allow": "POST"})
        with self.lock:
            self.stats["token_fetch_attempts"] += 1
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        form = {}
        if body:
            if ctype != "application/x-www-form-urlencoded":
                return Response(400, {"error": "invalid_request",
                                      "error_description": "body must be application/x-www-form-urlencoded"})
            form = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        cid = csec = None
        auth = headers.get("authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                dec = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
                cid, _, csec = dec.partition(":")
            except (ValueError, UnicodeDecodeError):
                cid = csec = None
        elif "client_id" in form:
            cid, csec = form["client_id"][-1], (form.get("client_secret") or [""])[-1]
        if not (self.project_enabled and cid is not None
                and hmac.compare_digest(cid.encode(), self.args.key_id.encode())
                and hmac.compare_digest((csec or "").encode(), self.args.key_secret.encode())
                and not self.keys_revoked()):
            if self.keys_revoked():
                with self.lock:
                    self.stats["revoked_rejections"] += 1
            return Response(401, {"error": "invalid_client", "error_description": "Client authentication failed"},
                            {"WWW-Authenticate": 'Basic realm="sinch"'})
        grant = (form.get("grant_type") or [None])[-1]
        if not grant:
            return Response(400, {"error": "invalid_request", "error_description": "grant_type is required"})
        if grant != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type",
                                  "error_description": f"grant_type {grant!r} is not supported"})
        with self.lock:
            tok, ttl = self.issue_token()
            self.stats["token_fetches"] += 1
        return Response(200, {"access_token": tok, "token_type": "bearer", "expires_in": ttl, "scope": ""},
                        {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def check_auth(self, ident, headers):
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None

        def unauthorized(text, www='Bearer realm="sinch"'):
            return ApiError(401, "unauthorized", text, {"WWW-Authenticate": www})

        if token is not None and self.keys_revoked() and (
                (self.project_enabled and ident == self.args.project_id)
                or (self.plan_enabled and ident == self.args.service_plan_id)):
            self.stats["revoked_rejections"] += 1
            # Not "expired": a new token would not help, the key itself is revoked.
            raise unauthorized("the access key or API token has been revoked", 'Bearer error="invalid_token"')

        if self.project_enabled and ident == self.args.project_id:
            if token is None:
                raise unauthorized("missing bearer token")
            with self.lock:
                info = self.tokens.get(token)
                now = self.now_ms()
            if info is None:
                raise unauthorized("invalid access token", 'Bearer error="invalid_token"')
            if now >= info["expires_at"]:
                raise unauthorized("access token expired",
                                   'Bearer error="invalid_token", error_description="token expired"')
            return
        if self.plan_enabled and ident == self.args.service_plan_id:
            if token is None:
                raise unauthorized("missing bearer token")
            if not hmac.compare_digest(token.encode(), self.args.api_token.encode()):
                raise unauthorized("token not valid for this service plan", 'Bearer error="invalid_token"')
            return
        raise unauthorized(f"unknown project or service plan id {ident!r}", 'Bearer error="invalid_token"')

    # ---- batches: state helpers ----
    @staticmethod
    def eff_send(b):
        return b["send_at"] if b["send_at"] is not None else b["created_at"]

    def refresh(self, b, now):
        if not b["dispatched"] and not b["canceled"] and self.eff_send(b) <= now:
            b["dispatched"] = True
            at = max(self.eff_send(b), b["created_at"])
            b["dispatched_at"] = at
            # Without a sender Sinch uses the plan's default originator; with none it aborts the message.
            no_sender = b["from"] is None and not self.config["default_originator"]
            status, code = ("Aborted", 410) if no_sender else ("Dispatched", 401)
            for r in b["recipients"].values():
                if r["status"] == "Queued":
                    r.update(status=status, code=code, at=at)

    def render(self, b):
        out = {"id": b["id"], "to": list(b["to"])}
        if b["from"] is not None:
            out["from"] = b["from"]
        out["canceled"] = b["canceled"]
        if b["parameters"] is not None:
            out["parameters"] = b["parameters"]
        out["body"] = b["body"]
        out["type"] = "mt_text"
        out["created_at"] = fmt_ms(b["created_at"])
        out["modified_at"] = fmt_ms(b["modified_at"])
        out["delivery_report"] = b["delivery_report"] or "none"
        if b["send_at"] is not None:
            out["send_at"] = fmt_ms(b["send_at"])
        out["expire_at"] = fmt_ms(b["expire_at"])
        for k in ("callback_url", "client_reference", "feedback_enabled"):
            if b[k] is not None:
                out[k] = b[k]
        out["flash_message"] = bool(b["flash_message"])
        for k in ("truncate_concat", "max_number_of_message_parts", "from_ton", "from_npi"):
            if b[k] is not None:
                out[k] = b[k]
        return out

    def render_internal(self, b):
        out = self.render(b)
        out.update({
            "dispatched": b["dispatched"],
            "dispatched_at": fmt_ms(b["dispatched_at"]) if b["dispatched_at"] is not None else None,
            "canceled_at": fmt_ms(b["canceled_at"]) if b["canceled_at"] is not None else None,
            "effective_send_at": fmt_ms(self.eff_send(b)),
            "expire_at_explicit": b["expire_explicit"],
            "delivery_statuses": {k: {"status": v["status"], "code": v["code"], "at": fmt_ms(v["at"])}
                                  for k, v in b["recipients"].items()},
            "feedback": list(b["feedback"]),
            "callbacks_sent": b["callbacks_sent"],
            "replaced": b["replaced"],
            "updated": b["updated"],
        })
        return out

    def compute_expire(self, send_at, created_at, expire_at, explicit):
        base = send_at if send_at is not None else created_at
        if not explicit or expire_at is None:
            return base + THREE_DAYS_MS, False
        if expire_at <= base:
            raise bad("syntax_constraint_violation", "'expire_at' must be after 'send_at'")
        if expire_at > base + THREE_DAYS_MS:
            if self.config["expire_policy"] == "clamp":
                return base + THREE_DAYS_MS, True
            raise bad("syntax_constraint_violation", "'expire_at' must be at most 3 days after 'send_at'")
        return expire_at, True

    def check_callback(self, delivery_report, callback_url):
        if (delivery_report or "none") != "none" and not callback_url and not self.config["default_callback_url"]:
            raise ApiError(403, "missing_callback_url",
                           "A delivery report was requested but no callback URL is set on the batch or the service plan")

    def build_batch(self, f, now, existing=None):
        """Create the internal batch dict from validated create-mode fields."""
        send_at = f.get("send_at")
        created = existing["created_at"] if existing else now
        expire_at, explicit = self.compute_expire(send_at, created, f.get("expire_at"),
                                                  f.get("expire_at") is not None)
        self.check_callback(f.get("delivery_report"), f.get("callback_url"))
        b = {
            "id": existing["id"] if existing else None, "seq": existing["seq"] if existing else None,
            "to": f["to"], "from": f.get("from"), "body": f["body"], "parameters": f.get("parameters"),
            "delivery_report": f.get("delivery_report") or "none", "send_at": send_at,
            "expire_at": expire_at, "expire_explicit": explicit,
            "callback_url": f.get("callback_url"), "client_reference": f.get("client_reference"),
            "feedback_enabled": f.get("feedback_enabled"), "flash_message": bool(f.get("flash_message")),
            "truncate_concat": f.get("truncate_concat"),
            "max_number_of_message_parts": f.get("max_number_of_message_parts"),
            "from_ton": f.get("from_ton"), "from_npi": f.get("from_npi"),
            "created_at": created, "modified_at": now, "canceled": False, "canceled_at": None,
            "dispatched": False, "dispatched_at": None,
            "recipients": {m: {"status": "Queued", "code": 400, "at": now} for m in f["to"]},
            "feedback": existing["feedback"] if existing else [],
            "callbacks_sent": existing["callbacks_sent"] if existing else 0,
            "replaced": (existing["replaced"] + 1) if existing else 0,
            "updated": existing["updated"] if existing else 0,
        }
        return b

    def get_batch(self, bid):
        b = self.batches.get(bid)
        if b is None:
            raise ApiError(404, "not_found", f"Batch {bid!r} not found")
        return b

    # ---- batches: operations (all called with the lock held) ----
    def op_create(self, obj):
        f = validate_fields(obj, "create")
        now = self.now_ms()
        b = self.build_batch(f, now)
        bid = new_batch_id(now)
        while bid in self.batches:
            bid = new_batch_id(now)
        self.batch_seq += 1
        b["id"], b["seq"] = bid, self.batch_seq
        self.batches[bid] = b
        self.refresh(b, now)
        self.stats["creates"] += 1
        if b["client_reference"] is not None:
            self.creates_by_ref[b["client_reference"]] += 1
        return Response(201, self.render(b))

    def op_get(self, bid):
        b = self.get_batch(bid)
        self.refresh(b, self.now_ms())
        return Response(200, self.render(b))

    def op_update(self, bid, obj):
        b = self.get_batch(bid)
        f = validate_fields(obj, "update")
        now = self.now_ms()
        self.refresh(b, now)
        if b["dispatched"] or b["canceled"]:
            raise ApiError(403, "batch_already_dispatched",
                           "The batch is already " + ("cancelled" if b["canceled"] else "dispatched"))
        to = list(b["to"])
        for m in f.get("to_add") or []:
            if m not in to:
                to.append(m)
        removed = set(f.get("to_remove") or [])
        to = [m for m in to if m not in removed]
        if not to:
            raise bad("syntax_constraint_violation", "the update would leave the batch without recipients")
        send_at = f["send_at"] if "send_at" in f else b["send_at"]
        if "expire_at" in f:
            exp_in, explicit = f["expire_at"], f["expire_at"] is not None
        else:
            exp_in, explicit = b["expire_at"], b["expire_explicit"]
        expire_at, explicit = self.compute_expire(send_at, b["created_at"], exp_in, explicit)
        dr = f["delivery_report"] if "delivery_report" in f else b["delivery_report"]
        cb = f["callback_url"] if "callback_url" in f else b["callback_url"]
        self.check_callback(dr, cb)
        # apply
        for k, v in f.items():
            if k in ("to_add", "to_remove", "send_at", "expire_at", "delivery_report", "callback_url"):
                continue
            if k == "flash_message":
                v = bool(v)
            b[k] = v
        b["to"] = to
        b["recipients"] = {m: b["recipients"].get(m) or {"status": "Queued", "code": 400, "at": now} for m in to}
        b["send_at"] = send_at
        b["expire_at"], b["expire_explicit"] = expire_at, explicit
        b["delivery_report"] = dr or "none"
        b["callback_url"] = cb
        b["modified_at"] = now
        b["updated"] += 1
        self.refresh(b, now)
        self.stats["updates"] += 1
        return Response(200, self.render(b))

    def op_replace(self, bid, obj):
        b = self.get_batch(bid)
        f = validate_fields(obj, "create")
        now = self.now_ms()
        self.refresh(b, now)
        if b["dispatched"] or b["canceled"]:
            raise ApiError(403, "batch_already_dispatched",
                           "The batch is already " + ("cancelled" if b["canceled"] else "dispatched"))
        nb = self.build_batch(f, now, existing=b)
        self.batches[bid] = nb
        self.refresh(nb, now)
        self.stats["replaces"] += 1
        return Response(200, self.render(nb))

    def op_cancel(self, bid):
        b = self.get_batch(bid)
        now = self.now_ms()
        self.refresh(b, now)
        if not b["canceled"]:
            if b["dispatched"] and int(self.config["cancel_dispatched_status"]) == 409:
                raise ApiError(409, "conflict_send_at", "The batch has already been sent and cannot be cancelled")
            b["canceled"] = True
            b["canceled_at"] = now
            b["modified_at"] = now
            if not b["dispatched"]:
                for r in b["recipients"].values():
                    r.update(status="Cancelled", code=407, at=now)
            self.stats["cancels"] += 1
        return Response(200, self.render(b))

    def op_list(self, query):
        p = parse_query(query)
        now = self.now_ms()

        def int_param(name, default):
            v = qget(p, name)
            if v is None or v == "":
                return default
            if not re.fullmatch(r"[0-9]{1,9}", v):
                raise bad("syntax_invalid_parameter_format", f"'{name}' must be a non-negative integer")
            return int(v)

        page = int_param("page", 0)
        page_size = int_param("page_size", 30)
        if not 1 <= page_size <= 100:
            raise bad("syntax_constraint_violation", "'page_size' must be between 1 and 100")
        froms = None
        fv = p.get("from")
        if fv:
            froms = set()
            for v in ",".join(fv).split(","):
                v = v.strip()
                if v:
                    froms.add(normalize_sender(v) or v)
        start = now - MS_PER_DAY
        end = None
        for name in ("start_date", "end_date"):
            v = qget(p, name)
            if v:
                ms = parse_iso(v)
                if ms is None:
                    raise bad("syntax_invalid_parameter_format", f"Invalid ISO-8601 date-time in '{name}': {v!r}")
                if name == "start_date":
                    start = ms
                else:
                    end = ms
        cref = qget(p, "client_reference")
        lo = max(start, now - LIST_WINDOW_MS)
        items = [b for b in self.batches.values()
                 if b["created_at"] >= lo and (end is None or b["created_at"] < end)
                 and (froms is None or b["from"] in froms)
                 and (cref is None or b["client_reference"] == cref)]
        items.sort(key=lambda b: (b["created_at"], b["seq"]), reverse=True)
        chunk = items[page * page_size:(page + 1) * page_size]
        for b in chunk:
            self.refresh(b, now)
        self.stats["lists"] += 1
        return Response(200, {"count": len(items), "page": page, "page_size": len(chunk),
                              "batches": [self.render(b) for b in chunk]})

    def op_dry_run(self, query, obj):
        p = parse_query(query)
        f = validate_fields(obj, "create")
        pr = (qget(p, "per_recipient") or "false").lower()
        if pr not in ("true", "false"):
            raise bad("syntax_invalid_parameter_format", "'per_recipient' must be true or false")
        nr = qget(p, "number_of_recipients")
        if nr in (None, ""):
            limit = 100
        elif re.fullmatch(r"[0-9]{1,9}", nr):
            limit = int(nr)
            if not 1 <= limit <= 1000:
                raise bad("syntax_constraint_violation", "'number_of_recipients' must be between 1 and 1000")
        else:
            raise bad("syntax_invalid_parameter_format", "'number_of_recipients' must be an integer")
        now = self.now_ms()
        self.compute_expire(f.get("send_at"), now, f.get("expire_at"), f.get("expire_at") is not None)
        self.check_callback(f.get("delivery_report"), f.get("callback_url"))
        params = f.get("parameters") or {}
        norm_params = {k: {(normalize_msisdn(rk) or rk): rv for rk, rv in v.items()} for k, v in params.items()}
        total = 0
        per = []
        for m in f["to"]:
            text = f["body"]
            for key, vals in norm_params.items():
                val = vals.get(m, vals.get("default"))
                if val is not None:
                    text = text.replace("${" + key + "}", val)
            parts, enc = message_parts(text, bool(f.get("truncate_concat")))
            total += parts
            if len(per) < limit:
                per.append({"recipient": m, "number_of_parts": parts, "body": text, "encoding": enc})
        out = {"number_of_recipients": len(f["to"]), "number_of_messages": total}
        if pr == "true":
            out["per_recipient"] = per
        self.stats["dry_runs"] += 1
        return Response(200, out)

    def op_delivery_report(self, bid, query):
        b = self.get_batch(bid)
        self.refresh(b, self.now_ms())
        p = parse_query(query)
        typ = qget(p, "type") or "summary"
        if typ not in ("summary", "full"):
            raise ApiError(404, "not_found", f"Unknown delivery report type {typ!r}")
        statuses = None
        if p.get("status"):
            statuses = {s.strip().lower() for s in ",".join(p["status"]).split(",") if s.strip()}
        codes = None
        if p.get("code"):
            codes = set()
            for c in ",".join(p["code"]).split(","):
                c = c.strip()
                if not c:
                    continue
                if not re.fullmatch(r"-?[0-9]{1,9}", c):
                    raise bad("syntax_invalid_parameter_format", f"Invalid code {c!r}")
                codes.add(int(c))
        groups = {}
        if b["canceled"] and not b["dispatched"]:
            total = 0
        else:
            total = len(b["recipients"])
            for m, r in b["recipients"].items():
                if statuses is not None and r["status"].lower() not in statuses:
                    continue
                if codes is not None and r["code"] not in codes:
                    continue
                groups.setdefault((r["code"], r["status"]), []).append(m)
        sts = []
        for (code, status), ms in sorted(groups.items()):
            e = {"code": code, "status": status, "count": len(ms)}
            if typ == "full":
                e["recipients"] = ms
            sts.append(e)
        out = {"type": "delivery_report_sms", "batch_id": b["id"], "total_message_count": total, "statuses": sts}
        if b["client_reference"] is not None:
            out["client_reference"] = b["client_reference"]
        return Response(200, out)

    def recipient_report(self, b, m):
        r = b["recipients"][m]
        out = {"type": "recipient_delivery_report_sms", "batch_id": b["id"], "recipient": m,
               "code": r["code"], "status": r["status"], "at": fmt_ms(r["at"])}
        if r["status"] not in ("Queued", "Cancelled"):
            out["operator_status_at"] = fmt_s(r["at"])
        if b["client_reference"] is not None:
            out["client_reference"] = b["client_reference"]
        return out

    def op_recipient_report(self, bid, number):
        b = self.get_batch(bid)
        self.refresh(b, self.now_ms())
        m = normalize_msisdn(number)
        if m is None or m not in b["recipients"]:
            raise ApiError(404, "not_found", f"Recipient {number!r} not found in batch {bid}")
        return Response(200, self.recipient_report(b, m))

    def op_feedback(self, bid, obj):
        b = self.get_batch(bid)
        if not isinstance(obj, dict):
            raise bad("syntax_invalid_json", "request body must be a JSON object")
        if "recipients" not in obj or obj["recipients"] is None:
            raise bad("syntax_constraint_violation", "'recipients' is required")
        rec = obj["recipients"]
        if not isinstance(rec, list) or not all(isinstance(x, str) for x in rec):
            raise bad("syntax_invalid_json", "'recipients' must be an array of strings")
        norm = []
        for x in rec:
            n = normalize_msisdn(x)
            if n is None:
                raise bad("syntax_invalid_parameter_format", f"Invalid MSISDN: {x!r}")
            norm.append(n)
        b["feedback"].append({"at": fmt_ms(self.now_ms()), "recipients": norm})
        self.stats["feedbacks"] += 1
        return Response(202)

    # ---- API routing ----
    def api(self, method, path, query, headers, body):
        if method == "HEAD":
            method = "GET"
        if path == "/oauth2/token":
            return self.handle_token(method, headers, body)
        segs = path.split("/")
        if len(segs) < 4 or segs[0] != "" or segs[1] != "xms" or segs[2] != "v1" or not segs[3]:
            return err_response(ApiError(404, "not_found", f"Unknown path {path!r}"))
        segs = [urllib.parse.unquote(s, errors="replace") for s in segs]
        ident, rest = segs[3], segs[4:]
        try:
            self.check_auth(ident, headers)
            n = len(rest)
            if n == 0 or rest[0] != "batches" or any(s == "" for s in rest):
                raise ApiError(404, "not_found", f"Unknown path {path!r}")
            if n == 1:
                route, allowed = "batches", ("GET", "POST")
            elif n == 2 and rest[1] == "dry_run":
                route, allowed = "dry_run", ("POST",)
            elif n == 2:
                route, allowed = "batch", ("GET", "POST", "PUT", "DELETE")
            elif n == 3 and rest[2] == "delivery_report":
                route, allowed = "report", ("GET",)
            elif n == 4 and rest[2] == "delivery_report":
                route, allowed = "recipient", ("GET",)
            elif n == 3 and rest[2] == "delivery_feedback":
                route, allowed = "feedback", ("POST",)
            else:
                raise ApiError(404, "not_found", f"Unknown path {path!r}")
            if method not in allowed:
                raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}",
                               {"Allow": ", ".join(allowed)})
            takes_body = method in ("POST", "PUT")
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if (takes_body or body) and ctype != "application/json":
                raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
            obj = None
            if takes_body:
                try:
                    obj = json.loads(body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as e:
                    raise bad("syntax_invalid_json", f"Invalid JSON: {e}") from None
            with self.lock:
                if route == "batches":
                    return self.op_list(query) if method == "GET" else self.op_create(obj)
                if route == "dry_run":
                    return self.op_dry_run(query, obj)
                bid = rest[1]
                if route == "batch":
                    if method == "GET":
                        return self.op_get(bid)
                    if method == "POST":
                        return self.op_update(bid, obj)
                    if method == "PUT":
                        return self.op_replace(bid, obj)
                    return self.op_cancel(bid)
                if route == "report":
                    return self.op_delivery_report(bid, query)
                if route == "recipient":
                    return self.op_recipient_report(bid, rest[3])
                return self.op_feedback(bid, obj)
        except ApiError as e:
            return err_response(e)

    # ---- control API ----
    def control(self, method, path, query, body):
        def js():
            if not body:
                return {}
            try:
                return json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise ValueError(f"invalid JSON: {e}") from None

        segs = path.split("/")[2:]  # after '', '_fake'
        name = segs[0] if segs else ""
        arg = urllib.parse.unquote(segs[1]) if len(segs) > 1 else None
        sub = segs[2] if len(segs) > 2 else None
        try:
            if name == "health" and method in ("GET", "HEAD"):
                return Response(200, {"ok": True, "now": fmt_ms(self.now_ms())})
            if name == "requests" and arg is None:
                if method == "DELETE":
                    with self.lock:
                        self.requests.clear()
                    return Response(200, {"cleared": True})
                if method == "GET":
                    p = parse_query(query)
                    with self.lock:
                        recs = list(self.requests)
                    if qget(p, "method"):
                        recs = [r for r in recs if r["method"] == qget(p, "method").upper()]
                    if qget(p, "path_regex"):
                        rx = re.compile(qget(p, "path_regex"))
                        recs = [r for r in recs if rx.search(r["path"])]
                    if qget(p, "since_seq"):
                        s = int(qget(p, "since_seq"))
                        recs = [r for r in recs if r["seq"] > s]
                    if qget(p, "limit"):
                        recs = recs[-int(qget(p, "limit")):] if int(qget(p, "limit")) > 0 else []
                    return Response(200, [self.public_record(r) for r in recs])
            if name == "batches" and method == "GET":
                with self.lock:
                    now = self.now_ms()
                    if arg is not None:
                        b = self.batches.get(arg)
                        if b is None:
                            return Response(404, {"error": f"no batch {arg}"})
                        self.refresh(b, now)
                        return Response(200, self.render_internal(b))
                    out = []
                    for b in sorted(self.batches.values(), key=lambda x: x["seq"]):
                        self.refresh(b, now)
                        out.append(self.render_internal(b))
                return Response(200, out)
            if name == "stats" and method == "GET":
                with self.lock:
                    now = self.now_ms()
                    for b in self.batches.values():
                        self.refresh(b, now)
                    st = {k: self.stats.get(k, 0) for k in (
                        "token_fetches", "token_fetch_attempts", "creates", "updates", "replaces",
                        "cancels", "lists", "dry_runs", "feedbacks", "callbacks_sent", "faults_fired",
                        "requests")}
                    st["batches"] = len(self.batches)
                    st["live_batches"] = sum(1 for b in self.batches.values()
                                             if not b["canceled"] and not b["dispatched"])
                    st["dispatched_batches"] = sum(1 for b in self.batches.values() if b["dispatched"])
                    st["canceled_batches"] = sum(1 for b in self.batches.values() if b["canceled"])
                    st["live_tokens"] = sum(1 for t in self.tokens.values() if t["expires_at"] > now)
                    st["now"] = fmt_ms(now)
                    st["rate_limited"] = self.stats.get("rate_limited", 0)
                    st["revoked_rejections"] = self.stats.get("revoked_rejections", 0)
                    st["client_references"] = len(self.creates_by_ref)
                    st["duplicate_client_references"] = sum(1 for n in self.creates_by_ref.values() if n > 1)
                    st["max_creates_per_client_reference"] = max(self.creates_by_ref.values(), default=0)
                return Response(200, st)
            if name == "client_references" and method == "GET" and arg is None:
                # Per client_reference: batches created (201 creates) and what became of them.
                with self.lock:
                    now = self.now_ms()
                    out = {ref: {"creates": n, "batches": 0, "live": 0, "canceled": 0, "dispatched": 0}
                           for ref, n in self.creates_by_ref.items()}
                    for b in self.batches.values():
                        ref = b["client_reference"]
                        if ref is None:
                            continue
                        self.refresh(b, now)
                        e = out.setdefault(ref, {"creates": 0, "batches": 0, "live": 0, "canceled": 0,
                                                 "dispatched": 0})
                        e["batches"] += 1
                        if b["canceled"]:
                            e["canceled"] += 1
                        elif b["dispatched"]:
                            e["dispatched"] += 1
                        else:
                            e["live"] += 1
                return Response(200, out)
            if name == "credentials" and arg is None:
                if method == "POST":
                    data = js()
                    revoked = data.get("revoked")
                    seconds = data.get("seconds")
                    if not isinstance(revoked, bool):
                        raise ValueError("'revoked' must be true or false")
                    if seconds is not None and (not isinstance(seconds, (int, float)) or isinstance(seconds, bool)
                                                or seconds <= 0):
                        raise ValueError("'seconds' must be a number > 0")
                    with self.lock:
                        if not revoked:
                            self.revoked_until = None
                        else:
                            self.revoked_until = math.inf if seconds is None else time.monotonic() + seconds
                if method in ("GET", "POST"):
                    revoked = self.keys_revoked()
                    return Response(200, {"revoked": revoked,
                                          "remaining_s": self._remaining(self.revoked_until) if revoked else None})
            if name == "rate_limit" and arg is None:
                if method == "POST":
                    data = js()
                    seconds = data.get("seconds")
                    retry_after = data.get("retry_after")
                    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                        raise ValueError("'seconds' must be a number >= 0 (0 ends the rate limit)")
                    if retry_after is not None and not (is_int(retry_after) and retry_after >= 0):
                        raise ValueError("'retry_after' must be null or an integer >= 0")
                    with self.lock:
                        self.rate_limit_until = time.monotonic() + seconds if seconds > 0 else None
                        self.rate_limit_retry_after = retry_after
                if method in ("GET", "POST"):
                    until = self.rate_limit_until
                    left = self._remaining(until)
                    active = left is not None and left > 0
                    return Response(200, {"active": active, "remaining_s": left if active else None,
                                          "retry_after": self.rate_limit_retry_after if active else None})
            if name == "release" and method == "POST" and arg is None:
                return Response(200, {"released": self.release_held(None)})
            if name == "reset" and method == "POST" and arg is None:
                self.reset()
                return Response(200, {"reset": True})
            if name == "faults":
                if method == "GET" and arg is None:
                    with self.lock:
                        return Response(200, [self.fault_public(f) for f in self.faults])
                if method == "DELETE" and sub is None:
                    with self.lock:
                        if arg is None:
                            gone = self.faults
                            self.faults = []
                        else:
                            gone = [f for f in self.faults if str(f["id"]) == arg]
                            self.faults = [f for f in self.faults if str(f["id"]) != arg]
                    for f in gone:  # a deleted hold rule lets its requests go on
                        if f["hold"]:
                            self.release_held(f["id"])
                    return Response(200, {"cleared": True})
                if method == "POST" and arg is not None and sub == "release":
                    with self.lock:
                        known = any(str(f["id"]) == arg for f in self.faults)
                    if not known:
                        return Response(404, {"error": f"no fault rule {arg}"})
                    return Response(200, {"released": self.release_held(int(arg))})
                if method == "POST" and arg is None:
                    data = js()
                    rules = data if isinstance(data, list) else [data]
                    ids = [self.add_fault(r) for r in rules]
                    return Response(201, {"id": ids[0] if len(ids) == 1 else None, "ids": ids})
            if name == "expire_tokens" and method == "POST":
                with self.lock:
                    now = self.now_ms()
                    n = 0
                    for t in self.tokens.values():
                        if t["expires_at"] > now:
                            t["expires_at"] = now
                            n += 1
                return Response(200, {"expired": n})
            if name == "clock":
                if method == "POST":
                    data = js()
                    with self.lock:
                        if "now" in data:
                            ms = parse_iso(data["now"])
                            if ms is None:
                                raise ValueError("'now' must be an ISO-8601 date-time")
                            self.offset_ms = ms - int(time.time() * 1000)
                        elif "advance_seconds" in data:
                            adv = data["advance_seconds"]
                            if not isinstance(adv, (int, float)) or isinstance(adv, bool):
                                raise ValueError("'advance_seconds' must be a number")
                            self.offset_ms += int(round(adv * 1000))
                        else:
                            raise ValueError("give 'advance_seconds' or 'now'")
                if method in ("GET", "POST"):
                    return Response(200, {"now": fmt_ms(self.now_ms()), "offset_ms": self.offset_ms})
            if name == "config":
                if method == "POST":
                    data = js()
                    with self.lock:
                        for k, v in data.items():
                            if k == "token_ttl" and is_int(v) and v > 0:
                                self.config[k] = v
                            elif k == "expire_policy" and v in ("reject", "clamp"):
                                self.config[k] = v
                            elif k == "cancel_dispatched_status" and v in (200, 409, "200", "409"):
                                self.config[k] = int(v)
                            elif k == "default_callback_url" and (v is None or isinstance(v, str)):
                                self.config[k] = v
                            elif k == "seed" and (v is None or is_int(v)):
                                self.config[k] = v
                                self.rng = random.Random(v)
                            elif k == "default_originator" and isinstance(v, bool):
                                self.config[k] = v
                            else:
                                raise ValueError(f"bad config item {k!r}: {v!r}")
                if method in ("GET", "POST"):
                    a = self.args
                    with self.lock:
                        cfg = dict(self.config)
                    cfg.update(project_id=a.project_id, key_id=a.key_id, key_secret=a.key_secret,
                               service_plan_id=a.service_plan_id, api_token=a.api_token,
                               auth_modes=a.auth_modes)
                    return Response(200, cfg)
            if name == "callbacks" and method == "POST" and arg:
                return self.send_callback(arg, js())
            return Response(404 if method in ("GET", "POST", "DELETE") else 405,
                            {"error": f"unknown control endpoint {method} {path}"})
        except (ValueError, re.error, TypeError) as e:
            return Response(400, {"error": str(e)})

    def send_callback(self, bid, data):
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        kind = data.get("kind", "recipient")
        if kind not in ("recipient", "batch"):
            raise ValueError("'kind' must be 'recipient' or 'batch'")
        explicit = "status" in data
        status = data.get("status", "Delivered")
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"'status' must be one of {', '.join(DELIVERY_STATUSES)}")
        code = data.get("code", DEFAULT_STATUS_CODES.get(status))
        if not is_int(code):
            raise ValueError("'code' (integer) is required for this status")
        secret = data.get("sign_secret")
        timeout = float(data.get("timeout_s", 10))
        with self.lock:
            b = self.batches.get(bid)
            if b is None:
                return Response(404, {"error": f"no batch {bid}"})
            now = self.now_ms()
            self.refresh(b, now)
            if data.get("recipient") is not None:
                m = normalize_msisdn(str(data["recipient"]))
                if m is None or m not in b["recipients"]:
                    return Response(404, {"error": f"recipient {data['recipient']!r} not in batch {bid}"})
                targets = [m]
            else:
                targets = list(b["recipients"])
            for m in targets:
                r = b["recipients"][m]
                if not explicit and (r["status"], r["code"]) == ("Aborted", 410):
                    continue  # aborted for want of a sender: it can never be delivered
                r.update(status=status, code=code, at=now)
            url = data.get("url") or b["callback_url"] or self.config["default_callback_url"]
            payloads = []
            if "payload" in data:
                payloads = [data["payload"]]
            elif kind == "recipient":
                for m in targets:
                    p = self.recipient_report(b, m)
                    for extra in ("applied_originator", "encoding", "operator"):
                        if extra in data:
                            p[extra] = data[extra]
                    payloads.append(p)
            else:
                report = data.get("report_type") or ("full" if b["delivery_report"] == "full" else "summary")
                groups = {}
                for m, r in b["recipients"].items():
                    groups.setdefault((r["code"], r["status"]), []).append(m)
                sts = []
                for (c, s), ms in sorted(groups.items()):
                    e = {"code": c, "status": s, "count": len(ms)}
                    if report == "full":
                        e["recipients"] = ms
                    sts.append(e)
                p = {"type": "delivery_report_sms", "batch_id": b["id"]}
                if b["client_reference"] is not None:
                    p["client_reference"] = b["client_reference"]
                p.update(total_message_count=len(b["recipients"]), statuses=sts)
                payloads.append(p)
        if data.get("send") is False:
            return Response(200, {"callback_status": None, "sent": False, "payloads": payloads})
        if not url:
            return Response(409, {"error": "batch has no callback_url (give 'url')", "callback_status": None})
        results = []
        for p in payloads:
            raw = json.dumps(p, separators=(",", ":")).encode("utf-8")
            hdrs = {"Content-Type": "application/json", "User-Agent": "sinch-fake-callbacks/1.0"}
            if secret is not None:
                nonce = str(data.get("nonce") or secrets.token_hex(16))
                ts = str(data.get("timestamp") or int(time.time()))
                mac = hmac.new(str(secret).encode("utf-8"), raw + b"." + nonce.encode() + b"." + ts.encode(),
                               hashlib.sha256).digest()
                hdrs["x-sinch-webhook-signature"] = base64.b64encode(mac).decode("ascii")
                hdrs["x-sinch-webhook-signature-nonce"] = nonce
                hdrs["x-sinch-webhook-signature-timestamp"] = ts
                hdrs["x-sinch-webhook-signature-algorithm"] = "HmacSHA256"
            for k, v in (data.get("headers") or {}).items():
                hdrs[str(k)] = str(v)
            st, err = post_json(url, raw, hdrs, timeout)
            results.append({"callback_status": st, "error": err, "payload": p})
            if st is not None:
                with self.lock:
                    b["callbacks_sent"] += 1
                    self.stats["callbacks_sent"] += 1
        first_bad = next((r for r in results if r["callback_status"] is None or not 200 <= r["callback_status"] < 300),
                         None)
        main_r = first_bad or results[0]
        out = {"callback_status": main_r["callback_status"], "url": url,
               "callback_statuses": [r["callback_status"] for r in results],
               "payloads": [r["payload"] for r in results]}
        if main_r["error"]:
            out["error"] = main_r["error"]
            return Response(502, out)
        return Response(200, out)


def post_json(url, raw, headers, timeout):
    """POST raw bytes; returns (status, None) or (None, error string)."""
    try:
        u = urllib.parse.urlsplit(url)
        host = u.hostname
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(host, u.port or 443, timeout=timeout,
                                               context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection(host, u.port or 80, timeout=timeout)
        target = (u.path or "/") + (("?" + u.query) if u.query else "")
        try:
            conn.request("POST", target, body=raw, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status, None
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        return None, f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------------------------
# HTTP layer: one asyncio event loop and a small, strict HTTP/1.1 parser
# --------------------------------------------------------------------------------------------
#
# The API requests run inline on the event loop (Fake.api is pure CPU work under Fake.lock).
# Everything that can block runs on a small pool of daemon threads instead: the control API
# (send_callback POSTs to the module and may take seconds; /_fake/batches and /_fake/stats walk
# every batch under the lock), batch lists (they scan every batch too), and an API request that
# finds Fake.lock taken by such a call.
# latency_ms faults sleep with asyncio.sleep, so delayed requests overlap.

IDLE_TIMEOUT_S = 300          # idle keep-alive connections are closed after 5 minutes
MAX_HEAD_BYTES = 64 * 1024    # request line + headers
MAX_HEADERS = 100
MAX_CHUNK_LINE = 4096         # a chunk-size line or a trailer line
MAX_BUFFERED = 1024 * 1024    # unprocessed bytes (pipelined requests) before reading pauses
BLOCKING_WORKERS = 16         # threads for the control API and lock-contended API requests
METHODS = frozenset(("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"))

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_date_cache = [0, ""]


def http_date():
    """RFC 7231 date of the current second (cached per second)."""
    now = int(time.time())
    if now != _date_cache[0]:
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
        _date_cache[0] = now
    return _date_cache[1]


class _BadRequest(Exception):
    """Malformed or unsupported request framing: answered with `status` and the connection closed."""

    def __init__(self, text, status=400, code="bad_request"):
        super().__init__(text)
        self.status, self.code, self.text = status, code, text


class _DaemonPool(concurrent.futures.Executor):
    """A minimal thread pool with daemon workers, so stopping never waits for a slow callback POST."""

    def __init__(self, max_workers):
        self._max = max_workers
        self._queue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads = []
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        fut = concurrent.futures.Future()
        self._queue.put((fut, fn, args, kwargs))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if len(self._threads) < self._max:
                    t = threading.Thread(target=self._work, name=f"fake-worker-{len(self._threads)}",
                                         daemon=True)
                    self._threads.append(t)
                    t.start()
        return fut

    def _work(self):
        while True:
            fut, fn, args, kwargs = self._queue.get()
            if fut.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as e:  # noqa: BLE001 - handed to the waiting coroutine
                    fut.set_exception(e)
                else:
                    fut.set_result(result)
            del fut, fn, args, kwargs
            self._idle.release()

    def shutdown(self, wait=True, *, cancel_futures=False):
        pass  # daemon threads: nothing to join


class _Request:
    __slots__ = ("method", "target", "line", "http10", "headers", "close", "body", "path", "query")


class _Conn(asyncio.Protocol):
    """One client connection.  Requests are handled strictly one after the other (pipelined ones wait in
    the buffer); a request that needs to wait (fault latency, a thread-pool call) marks the connection
    busy until its task is done."""

    def __init__(self, server):
        self.server = server
        self.fake = server.fake
        self.loop = server.loop
        self.transport = None
        self.peer = "-"
        self.buf = bytearray()
        self.req = None          # the request whose head is parsed and whose body is still coming
        self.need = -1           # body bytes still expected (Content-Length), -1 = chunked
        self.chunk = None        # chunked-body decoder state
        self.busy = False
        self.closed = False
        self.eof = False
        self.write_paused = False
        self.read_paused = False
        self.last = 0.0
        self.task = None
        self.tls = None          # the TLS version of this connection (--tls-cert), None for plain HTTP

    # ---- asyncio callbacks ----
    def connection_made(self, transport):
        self.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls = ssl_object.version()
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = peer[0]
        self.last = self.loop.time()
        self.server.conns.add(self)

    def connection_lost(self, exc):
        self.closed = True
        self.server.conns.discard(self)

    def data_received(self, data):
        self.last = self.loop.time()
        if self.closed:
            return
        self.buf += data
        if not self.busy and not self.write_paused:
            self._process()
        elif len(self.buf) > MAX_BUFFERED and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def eof_received(self):
        self.eof = True
        if not self.busy and not self.write_paused and not self.closed:
            self._process()
        return True  # keep the write side open until the pending answer is out

    def pause_writing(self):
        self.write_paused = True

    def resume_writing(self):
        self.write_paused = False
        if not self.busy and not self.closed:
            self._process()

    # ---- request loop ----
    def _process(self):
        try:
            while not self.busy and not self.closed and not self.write_paused:
                req = self._parse()
                if req is None:
                    break
                self._handle(req)
        except _BadRequest as e:
            self._reject(e)
            return
        if self.closed or self.busy or self.write_paused:
            return
        if self.eof:
            if self.req is not None:
                self._reject(_BadRequest("truncated chunked body" if self.need < 0 else "truncated body",
                                         code="syntax_invalid_json"))
            elif self.buf.strip():
                self._reject(_BadRequest("truncated request head"))
            else:
                self._close()
        elif self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def _parse(self):
        """The next complete request from the buffer, or None if more bytes are needed."""
        buf = self.buf
        req = self.req
        if req is None:
            if buf[:1] in (b"\r", b"\n"):  # empty lines before a request line are ignored (RFC 9112 2.2)
                del buf[:len(buf) - len(buf.lstrip(b"\r\n"))]
            if not buf:
                return None
            # the head ends at the first empty line, CRLF or bare LF (searches bounded: the buffer may hold
            # many pipelined requests)
            i = buf.find(b"\n\r\n", 0, MAX_HEAD_BYTES + 3)
            j = buf.find(b"\n\n", 0, i + 1 if i >= 0 else MAX_HEAD_BYTES + 2)
            if i < 0 and j < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    self._head_too_large()
                return None
            if j < 0 or 0 <= i < j:
                end, skip = i, 3
            else:
                end, skip = j, 2
            if end > MAX_HEAD_BYTES:
                self._head_too_large()
            head = buf[:end].decode("latin-1")
            del buf[:end + skip]
            req = self.req = self._parse_head(head)
            if self.need == 0:
                self.req = None
                req.body = b""
                return req
            if (not req.http10 and req.headers.get("expect", "").lower() == "100-continue"
                    and (self.need < 0 or len(buf) < self.need)):
                self.transport.write(_CONTINUE)
        if self.need >= 0:
            n = self.need
            if len(buf) < n:
                return None
            req.body = bytes(buf[:n])
            del buf[:n]
        else:
            body = self._dechunk()
            if body is None:
                return None
            req.body = body
        self.req = None
        return req

    def _head_too_large(self):
        nl = self.buf.find(b"\n")
        if nl < 0 or nl > MAX_HEAD_BYTES:
            raise _BadRequest("request line too long", 414)
        raise _BadRequest("request header section too large", 431)

    def _parse_head(self, head):
        lines = head.split("\n")
        line = lines[0]
        if line[-1:] == "\r":
            line = line[:-1]
        parts = line.split(" ")
        if len(parts) != 3:
            raise _BadRequest(f"malformed request line {line[:200]!r}")
        method, target, version = parts
        m = _VERSION.fullmatch(version)
        if m is None:
            raise _BadRequest(f"malformed HTTP version {version[:50]!r}")
        if m.group(1) != "1":
            raise _BadRequest(f"HTTP version {version} is not supported", 505)
        if method not in METHODS:
            if _TOKEN.fullmatch(method):
                raise _BadRequest(f"unsupported method {method!r}", 501)
            raise _BadRequest(f"malformed method {method[:50]!r}")
        if not target or _BAD_TARGET.search(target):
            raise _BadRequest(f"malformed request target {target[:200]!r}")
        if len(lines) > MAX_HEADERS + 1:
            raise _BadRequest("too many headers", 431)
        headers = {}
        for raw in lines[1:]:
            if raw[-1:] == "\r":
                raw = raw[:-1]
            k, sep, v = raw.partition(":")
            if not sep or not _TOKEN.fullmatch(k):  # also rejects obsolete line folding
                raise _BadRequest(f"malformed header line {raw[:200]!r}")
            v = v.strip(" \t")
            if "\r" in v or "\x00" in v:
                raise _BadRequest(f"malformed header value for {k!r}")
            k = k.lower()
            if k in headers:
                headers[k] = headers[k] + ", " + v
            else:
                headers[k] = v
        req = _Request()
        req.method, req.target, req.line, req.headers = method, target, line, headers
        req.http10 = http10 = m.group(2) == "0"
        close = http10
        conn = headers.get("connection")
        if conn is not None:
            tokens = [t.strip() for t in conn.lower().split(",")]
            if "close" in tokens:
                close = True
            elif "keep-alive" in tokens:
                close = False
        te = headers.get("transfer-encoding")
        cl = headers.get("content-length")
        if te is not None:
            if te.lower().rsplit(",", 1)[-1].strip() != "chunked":
                raise _BadRequest(f"unsupported Transfer-Encoding {te!r}", 501)
            self.need = -1
            self.chunk = [0, 0, [], 0, 0]  # state, bytes left in chunk, chunks, total, trailer lines
            if cl is not None:
                close = True  # RFC 9112 6.1: both given; do not trust the connection afterwards
        elif cl is not None:
            vals = {x.strip() for x in cl.split(",")}
            v = vals.pop()
            if vals or not v.isdigit() or not v.isascii():
                raise _BadRequest("bad Content-Length", code="syntax_invalid_json")
            n = int(v)
            if n > MAX_BODY_BYTES:
                raise _BadRequest("bad Content-Length", code="syntax_invalid_json")
            self.need = n
        else:
            self.need = 0
        req.close = close
        return req

    def _dechunk(self):
        """Decodes as much of a chunked body as is buffered; the body once complete, else None."""
        buf = self.buf
        st = self.chunk
        while True:
            state = st[0]
            if state == 1:  # chunk data
                take = min(st[1], len(buf))
                if not take:
                    return None
                st[2].append(bytes(buf[:take]))
                del buf[:take]
                st[1] -= take
                if not st[1]:
                    st[0] = 2
                continue
            if state == 2:  # CRLF after chunk data
                if buf[:2] == b"\r\n":
                    del buf[:2]
                elif buf[:1] == b"\n":
                    del buf[:1]
                elif len(buf) < 2 and buf[:1] in (b"", b"\r"):
                    return None
                else:
                    raise _BadRequest("bad chunk terminator", code="syntax_invalid_json")
                st[0] = 0
                continue
            i = buf.find(b"\n")
            if i < 0:
                if len(buf) > MAX_CHUNK_LINE:
                    raise _BadRequest("bad chunk size" if state == 0 else "trailer too long",
                                      code="syntax_invalid_json")
                return None
            line = bytes(buf[:i])
            del buf[:i + 1]
            if line[-1:] == b"\r":
                line = line[:-1]
            if state == 0:  # chunk-size [; ext]
                size = line.split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size):
                    raise _BadRequest("bad chunk size", code="syntax_invalid_json")
                size = int(size, 16)
                if size == 0:
                    st[0] = 3
                    continue
                st[3] += size
                if st[3] > MAX_BODY_BYTES:
                    raise _BadRequest("body too large", code="syntax_invalid_json")
                st[0], st[1] = 1, size
                continue
            # state 3: trailers until an empty line
            if not line:
                self.chunk = None
                return b"".join(st[2])
            st[4] += 1
            if st[4] > MAX_HEADERS:
                raise _BadRequest("too many trailers", 431)

    # ---- dispatch ----
    def _handle(self, req):
        target = req.target
        if target[:2] == "//":
            target = "/" + target.lstrip("/")
        if "://" in target.split("?", 1)[0]:  # absolute-form request target
            u = urllib.parse.urlsplit(target)
            target = (u.path or "/") + ("?" + u.query if u.query else "")
        req.path, _, req.query = target.partition("?")
        path = req.path
        if path == "/_fake" or path.startswith("/_fake/"):
            self._go(self._control(req))
            return
        if req.method in ("GET", "HEAD") and path.endswith("/batches"):
            self._go(self._api_in_thread(req))  # a list scans every batch under the lock (~0.1 s per 100 000)
            return
        fake = self.fake
        lock = fake.lock
        if not lock.acquire(blocking=False):  # a control call holds it: do not stall the loop
            self._go(self._api_in_thread(req))
            return
        try:
            try:
                rec, rule, resp = self._record_and_act(req)
            finally:
                lock.release()
            if resp is not None:
                self._respond(req, resp, rec)
            else:
                self._go(self._fault(req, rec, rule))
        except Exception:  # noqa: BLE001 - never kill the connection silently
            self._crash(req)

    def _record_and_act(self, req):
        """record + pick_fault, and the API call itself if no fault fired (resp None otherwise)."""
        fake = self.fake
        with fake.lock:
            rec = fake.record(req.method, req.path, req.query, req.headers, req.body, self.tls)
            resp = fake.rate_limit_response(req.path)
            if resp is not None:  # an account-wide 429 comes before any fault rule
                rec["status"] = resp.status
                rec["rate_limited"] = True
                return rec, None, resp
            rule = fake.pick_fault(req.method, req.path, req.query, req.body)
            if rule is not None:
                rec["fault"] = rule["id"]
                return rec, rule, None
            resp = fake.api(req.method, req.path, req.query, req.headers, req.body)
            rec["status"] = resp.status
            return rec, None, resp

    async def _api_in_thread(self, req):
        try:
            rec, rule, resp = await self.loop.run_in_executor(self.server.pool, self._record_and_act, req)
            if resp is not None:
                self._respond(req, resp, rec)
            else:
                await self._fault(req, rec, rule)
        except Exception:  # noqa: BLE001
            self._crash(req)

    async def _call_api(self, req):
        fake = self.fake
        if fake.lock.acquire(blocking=False):
            try:
                return fake.api(req.method, req.path, req.query, req.headers, req.body)
            finally:
                fake.lock.release()
        return await self.loop.run_in_executor(self.server.pool, fake.api, req.method, req.path, req.query,
                                               req.headers, req.body)

    async def _fault(self, req, rec, rule):
        try:
            resp = None
            if rule["act_first"]:  # the operation happens on arrival; only the answer waits
                resp = await self._call_api(req)
                rec["status"] = resp.status
            if rule["latency_ms"]:
                await asyncio.sleep(rule["latency_ms"] / 1000.0)
            if rule["hold"]:
                rec["held"] = True
                await self.server.hold(rule)
            if rule["act_then_drop"]:
                if resp is None:
                    resp = await self._call_api(req)
                    rec["status"] = resp.status
                rec["dropped"] = True
                rec["answered_at"] = time.time()
                self._close()  # flushes earlier answers, then FIN without answering this one
                return
            if rule["status"] is not None:
                resp = self.fake.fault_response(rule)
                rec["status"] = resp.status
                self._respond(req, resp, rec)
                return
            if resp is None:
                resp = await self._call_api(req)
                rec["status"] = resp.status
            self._respond(req, resp, rec)
        except Exception:  # noqa: BLE001
            self._crash(req)

    async def _control(self, req):
        try:
            resp = await self.loop.run_in_executor(self.server.pool, self.fake.control, req.method, req.path,
                                                   req.query, req.body)
            self._respond(req, resp)
        except Exception:  # noqa: BLE001
            self._crash(req)

    def _go(self, coro):
        self.busy = True
        self.task = self.loop.create_task(coro)
        self.task.add_done_callback(self._done)

    def _done(self, _task):
        self.task = None
        self.busy = False
        self.last = self.loop.time()
        if not self.closed and not self.write_paused:
            self._process()

    # ---- answers ----
    def _respond(self, req, resp, rec=None):
        if rec is not None:
            rec["answered_at"] = time.time()  # real clock, like real_at
        if self.closed:
            return  # the client is gone; the request has still been acted on, as before
        close = req.close or resp.close
        extra = ""
        for k, v in resp.headers.items():
            kl = k.lower()
            if kl == "connection":
                if v.lower() == "close":
                    close = True
                continue
            if kl != "content-length":
                extra += f"{k}: {v}\r\n"
        status = resp.status
        body = resp.body
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
                f"Date: {http_date()}\r\nServer: sinch-fake/1.0\r\n"
                + (f"Content-Type: {resp.content_type}\r\n" if resp.content_type else "")
                + f"Content-Length: {len(body)}\r\n" + extra
                + ("Connection: close\r\n" if close else "Connection: keep-alive\r\n" if req.http10 else "")
                + "\r\n").encode("latin-1", errors="replace")
        self.transport.write(head + body if body and req.method != "HEAD" else head)
        self.last = self.loop.time()
        if self.fake.verbose:
            self._log(f'"{req.line}" {status} -')
        if close:
            self._close()

    def _reject(self, e):
        """Answers a request that could not be parsed, and closes the connection."""
        if self.fake.verbose:
            self._log(f"code {e.status}, message {e.text}")
        req = _Request()
        req.method, req.http10, req.close, req.line = "", False, True, ""
        self._respond(req, Response(e.status, {"code": e.code, "text": e.text}, close=True))
        self._close()

    def _crash(self, req):
        traceback.print_exc(file=sys.stderr)
        self._respond(req, Response(500, {"code": "internal_error", "text": "sinch fake crashed; see its log"},
                                    close=True))
        self._close()

    def _close(self):
        if not self.closed:
            self.closed = True
            self.buf.clear()
            self.transport.close()

    def _log(self, msg):
        sys.stderr.write("%s [%s] %s\n" % (self.peer, time.strftime("%d/%b/%Y %H:%M:%S"), msg))


class FakeServer:
    """The listening socket (bound at construction, so a taken port fails at once) and the event loop."""

    def __init__(self, addr, fake, idle_timeout=IDLE_TIMEOUT_S, ssl_context=None):
        self.fake = fake
        self.idle_timeout = idle_timeout
        self.ssl_context = ssl_context  # None: plain HTTP
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(512)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.server_address = sock.getsockname()
        self.pool = _DaemonPool(BLOCKING_WORKERS)
        self.conns = set()
        self.loop = None
        self.stopping = None
        self.stop_requested = False
        self.holds = {}  # fault rule id -> asyncio.Event the requests it holds now wait for (loop thread only)
        fake.on_release = self.release

    def release(self, rule_id):
        """Lets the requests held by one `hold` rule (None: by all) go on; callable from any thread."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._release, rule_id)

    def _release(self, rule_id):
        for rid in list(self.holds) if rule_id is None else [rule_id]:
            ev = self.holds.pop(rid, None)
            if ev is not None:
                ev.set()

    async def hold(self, rule):
        """Waits until the rule's held requests are released, or hold_max_ms has passed."""
        rid = rule["id"]
        ev = self.holds.get(rid)
        if ev is None:
            ev = self.holds[rid] = asyncio.Event()
        fake = self.fake
        with fake.held_lock:
            fake.held_now[rid] += 1
        try:
            limit = rule["hold_max_ms"]
            if limit is None:
                await ev.wait()
            else:
                try:
                    await asyncio.wait_for(ev.wait(), limit / 1000.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            with fake.held_lock:
                fake.held_now[rid] -= 1
                if fake.held_now[rid] <= 0:
                    del fake.held_now[rid]

    def stop(self):
        """Ends run(); callable from any thread."""
        self.stop_requested = True
        loop, ev = self.loop, self.stopping
        if loop is not None and ev is not None:
            loop.call_soon_threadsafe(ev.set)

    async def run(self, early_signals=()):
        """Serves until SIGTERM/SIGINT or stop().  early_signals non-empty: one arrived before the loop ran.
        Signal handlers are installed only when it runs in the main thread."""
        self.stopping = asyncio.Event()
        self.loop = loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stopping.set)
        if early_signals or self.stop_requested:
            self.stopping.set()
        server = await loop.create_server(lambda: _Conn(self), sock=self.sock, backlog=512, ssl=self.ssl_context)
        sweeper = loop.create_task(self._sweep())
        try:
            await self.stopping.wait()
        finally:
            sweeper.cancel()
            server.close()
            for c in list(self.conns):
                c._close()
            await asyncio.sleep(0)  # let the transports run their close callbacks

    async def _sweep(self):
        """Closes keep-alive connections that have been idle for idle_timeout seconds."""
        interval = min(5.0, max(0.05, self.idle_timeout / 10))
        while True:
            await asyncio.sleep(interval)
            limit = self.loop.time() - self.idle_timeout
            for c in list(self.conns):
                if not c.busy and c.last <= limit:
                    c._close()


def parse_listen(value):
    if value.isdigit():
        return "127.0.0.1", int(value)
    if value.startswith("["):
        host, _, port = value[1:].partition("]:")
    else:
        host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {value!r}")
    return host, int(port)


def build_arg_parser():
    ap = argparse.ArgumentParser(description="Fake Sinch SMS REST API (xms/v1) + OAuth2 token endpoint")
    ap.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0),
                    help="HOST:PORT to listen on; port 0 picks a free port (default 127.0.0.1:0)")
    ap.add_argument("--port-file", help="write the actual port here once listening")
    ap.add_argument("--project-id", default="test-project")
    ap.add_argument("--key-id", default="test-key")
    ap.add_argument("--key-secret", default="test-secret")
    ap.add_argument("--service-plan-id", default="test-plan")
    ap.add_argument("--api-token", default="test-api-token")
    ap.add_argument("--auth-modes", choices=("both", "project", "service-plan"), default="both",
                    help="which credential sets are accepted (default both)")
    ap.add_argument("--token-ttl", type=int, default=3600, help="OAuth2 token lifetime in seconds (default 3600)")
    ap.add_argument("--expire-policy", choices=("reject", "clamp"), default="reject",
                    help="expire_at more than 3 days after send_at: 400 (reject, default) or clamp")
    ap.add_argument("--cancel-dispatched-status", type=int, choices=(200, 409), default=200,
                    help="answer to DELETE of a dispatched batch (default 200)")
    ap.add_argument("--default-callback-url", default=None,
                    help="service-plan default callback URL (default: none)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the fault-probability RNG (default 0)")
    ap.add_argument("--max-recorded", type=int, default=100_000,
                    help="keep at most this many recorded requests (default 100000)")
    ap.add_argument("--no-default-originator", dest="default_originator", action="store_false",
                    help="the service plan has no default originator: batches without 'from' are accepted "
                         "but their recipients end Aborted/410 once dispatched")
    ap.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S,
                    help=f"close keep-alive connections idle this many seconds (default {IDLE_TIMEOUT_S})")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain) instead of plain HTTP; "
                                       "needs --tls-key")
    ap.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return ap


def tls_context(cert, key):
    """A server-side TLS context (TLS 1.2 or newer) for --tls-cert/--tls-key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def main(argv=None):
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    context = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    fake = Fake(args)
    server = FakeServer(args.listen, fake, idle_timeout=args.idle_timeout, ssl_context=context)
    port = server.server_address[1]
    if args.port_file:
        tmp = f"{args.port_file}.tmp.{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    host = args.listen[0]
    shown = f"[{host}]" if ":" in host else host
    early = []  # a SIGTERM/SIGINT before the event loop runs still stops the fake cleanly

    def on_early_signal(signum, _frame):
        early.append(signum)

    signal.signal(signal.SIGTERM, on_early_signal)
    signal.signal(signal.SIGINT, on_early_signal)
    scheme = "https" if context else "http"
    print(f"sinch_fake: listening on {scheme}://{shown}:{port} (pid {os.getpid()})", file=sys.stderr, flush=True)
    asyncio.run(server.run(early))
    signal.signal(signal.SIGTERM, on_early_signal)  # the loop restored the defaults; stay quiet until exit
    signal.signal(signal.SIGINT, on_early_signal)
    print("sinch_fake: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
