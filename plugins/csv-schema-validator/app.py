"""CSV against a column schema, and against the partner's history.

The schema is the partner's parameter `schema`, JSON:

    {
      "delimiter": ",",            optional, "," by default
      "header": true,              the first line names the columns (default true)
      "encoding": "utf-8",         optional
      "columns": [
        {"name": "order_id", "type": "integer", "required": true},
        {"name": "amount", "type": "decimal", "min": 0, "max": 100000},
        {"name": "currency", "type": "string", "values": ["EUR", "USD"]},
        {"name": "email", "type": "string", "pattern": "[^@]+@[^@]+", "max_length": 80},
        {"name": "shipped", "type": "date"}
      ],
      "unique": [["order_id"]],    keys no two rows may share (each a list of columns)
      "duplicate_files": "reject"  "allow" to accept a file whose content was already received
    }

Types: string, integer, decimal, date (YYYY-MM-DD), datetime (ISO 8601),
boolean (true/false/1/0/yes/no). An empty field is a missing value: refused
when `required`, otherwise not checked.

Each problem is one reason, "line 4, amount: 'abc' is not a decimal"; the
first 20 are given, then how many more. The file is read 1 MiB at a time;
memory grows only with the unique keys (a hash of each row's key).
"""

import csv
import hashlib
import json
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import wit_world
from ferry_plugin import (
    Direction,
    FileInfo,
    Verdict,
    accept,
    chunks,
    history,
    param,
    quarantine,
    reject,
)

MAX_REASONS = 20
TYPES = ("string", "integer", "decimal", "date", "datetime", "boolean")
BOOLEANS = {"true", "false", "1", "0", "yes", "no"}


class SchemaError(Exception):
    """The partner's schema is wrong: a configuration problem, not the file's."""


class Column:
    def __init__(self, spec, index):
        where = f"columns[{index}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise SchemaError(f"{where} needs a \"name\"")
        self.name = spec["name"]
        self.type = spec.get("type", "string")
        if self.type not in TYPES:
            raise SchemaError(f"{where} ({self.name}): type \"{self.type}\" is not one of {', '.join(TYPES)}")
        self.required = bool(spec.get("required", False))
        self.values = spec.get("values")
        self.max_length = spec.get("max_length")
        self.min = _number(spec.get("min"), where, "min")
        self.max = _number(spec.get("max"), where, "max")
        pattern = spec.get("pattern")
        try:
            self.pattern = re.compile(pattern) if pattern else None
        except re.error as e:
            raise SchemaError(f"{where} ({self.name}): pattern {pattern!r}: {e}")

    def check(self, text):
        """None when `text` fits the column, else what is wrong with it."""
        if text == "":
            return "missing" if self.required else None
        value = text
        if self.type == "integer":
            if not re.fullmatch(r"[+-]?[0-9]+", text):
                return f"{text!r} is not an integer"
            value = int(text)
        elif self.type == "decimal":
            try:
                value = Decimal(text)
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite():
                return f"{text!r} is not a decimal"
        elif self.type == "date":
            try:
                date.fromisoformat(text)
            except ValueError:
                return f"{text!r} is not a date (YYYY-MM-DD)"
        elif self.type == "datetime":
            try:
                datetime.fromisoformat(text)
            except ValueError:
                return f"{text!r} is not a date and time (ISO 8601)"
        elif self.type == "boolean" and text.lower() not in BOOLEANS:
            return f"{text!r} is not a boolean"
        if self.values is not None and text not in self.values:
            return f"{text!r} is not one of {', '.join(map(str, self.values))}"
        if self.max_length is not None and len(text) > self.max_length:
            return f"{len(text)} characters, at most {self.max_length}"
        if self.pattern is not None and not self.pattern.fullmatch(text):
            return f"{text!r} does not match {self.pattern.pattern}"
        if self.min is not None and isinstance(value, (int, Decimal)) and value < self.min:
            return f"{text} is below {self.min}"
        if self.max is not None and isinstance(value, (int, Decimal)) and value > self.max:
            return f"{text} is above {self.max}"
        return None


def _number(value, where, key):
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise SchemaError(f"{where}: {key} {value!r} is not a number")


class Schema:
    def __init__(self, text):
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as e:
            raise SchemaError(f"the `schema` parameter is not JSON: {e}")
        if not isinstance(spec, dict) or not isinstance(spec.get("columns"), list) or not spec["columns"]:
            raise SchemaError("the `schema` parameter needs a non-empty \"columns\" list")
        self.columns = [Column(c, i) for i, c in enumerate(spec["columns"])]
        self.delimiter = spec.get("delimiter", ",")
        self.header = spec.get("header", True)
        self.encoding = spec.get("encoding", "utf-8")
        self.duplicates = spec.get("duplicate_files", "reject")
        names = [c.name for c in self.columns]
        self.unique = []
        for key in spec.get("unique", []):
            key = [key] if isinstance(key, str) else key
            for name in key:
                if name not in names:
                    raise SchemaError(f"unique key {key}: no column {name!r}")
            self.unique.append([names.index(n) for n in key])


class Reasons:
    """The first MAX_REASONS problems, and how many there were in all."""

    def __init__(self):
        self.shown, self.count = [], 0

    def add(self, text):
        self.count += 1
        if len(self.shown) < MAX_REASONS:
            self.shown.append(text)

    def all(self):
        more = self.count - len(self.shown)
        return self.shown + ([f"... and {more} more"] if more else [])


def raw_lines():
    """The file's lines with their endings (a quoted field may hold a line
    break), 1 MiB read at a time."""
    rest = b""
    for chunk in chunks():
        rest += chunk
        *complete, rest = rest.split(b"\n")
        for line in complete:
            yield line + b"\n"
    if rest:
        yield rest


def decoded(lines, encoding, reasons):
    for number, line in enumerate(lines, start=1):
        try:
            yield line.decode(encoding)
        except UnicodeDecodeError as e:
            reasons.add(f"line {number}: not {encoding} (byte {e.start + 1})")
            yield line.decode(encoding, errors="replace")


def check_rows(schema, reasons):
    reader = csv.reader(decoded(raw_lines(), schema.encoding, reasons), delimiter=schema.delimiter)
    names = [c.name for c in schema.columns]
    seen = [dict() for _ in schema.unique]
    rows, header = 0, schema.header
    for row in reader:
        line = reader.line_num
        if header:
            header = False
            if [f.strip() for f in row] != names:
                reasons.add(f"line {line}: the header is {','.join(row)}; expected {','.join(names)}")
            continue
        rows += 1
        if row == [] or row == [""]:
            reasons.add(f"line {line}: empty")
            continue
        if len(row) != len(names):
            reasons.add(f"line {line}: {len(row)} fields, expected {len(names)}")
            continue
        for column, text in zip(schema.columns, row):
            problem = column.check(text)
            if problem:
                reasons.add(f"line {line}, {column.name}: {problem}")
        for key, earlier in zip(schema.unique, seen):
            values = [row[i] for i in key]
            digest = hashlib.sha256("\x00".join(values).encode()).digest()[:16]
            if digest in earlier:
                shown = ", ".join(f"{names[i]}={row[i]}" for i in key)
                reasons.add(f"line {line}: {shown} repeats line {earlier[digest]}")
            else:
                earlier[digest] = line
    if rows == 0:
        reasons.add("no rows")


def check_history(file, reasons):
    """The same content already received and not refused is a resend."""
    for entry in history(direction=Direction.INBOUND, limit=10_000):
        if entry.message_id == file.message_id or entry.sha256 != file.sha256:
            continue
        if entry.state in ("rejected", "quarantined", "failed"):
            continue
        reasons.add(f"the same content was already received as {entry.name} (message {entry.message_id})")
        return


class WitWorld(wit_world.WitWorld):
    def validate(self, file: FileInfo) -> Verdict:
        text = param("schema")
        if not text:
            return quarantine("no `schema` parameter for this partner: nothing to validate against")
        try:
            schema = Schema(text)
        except SchemaError as e:
            return quarantine(f"the partner's CSV schema is wrong: {e}")
        reasons = Reasons()
        if schema.duplicates != "allow":
            check_history(file, reasons)
        check_rows(schema, reasons)
        return reject(*reasons.all()) if reasons.count else accept()
