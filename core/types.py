"""Logical column types: what a value is, independent of the engine that stores it.

The names are SQL's (DuckDB spells them this way, and so do probe records: ``col("UBIGINT")``);
each sink maps them onto its engine (PostgreSQL has no unsigned 64-bit integer, JSON has
no timestamp). Ranges are checked once, where values enter (``Probe.parse``), so that no
engine ever meets a value its column cannot hold.
"""

from __future__ import annotations

import enum
import sys


class LogicalType(enum.StrEnum):
    TINYINT = "TINYINT"
    SMALLINT = "SMALLINT"
    INTEGER = "INTEGER"
    BIGINT = "BIGINT"
    UTINYINT = "UTINYINT"
    USMALLINT = "USMALLINT"
    UINTEGER = "UINTEGER"
    UBIGINT = "UBIGINT"
    FLOAT = "FLOAT"            # 32-bit
    DOUBLE = "DOUBLE"
    BOOLEAN = "BOOLEAN"
    VARCHAR = "VARCHAR"
    TIMESTAMP = "TIMESTAMP"    # naive UTC
    VARCHAR_LIST = "VARCHAR[]"

    @property
    def is_integer(self) -> bool:
        return self in INT_RANGES

    @property
    def is_float(self) -> bool:
        return self in (LogicalType.FLOAT, LogicalType.DOUBLE)

    @property
    def is_numeric(self) -> bool:
        return self.is_integer or self.is_float


INT_RANGES: dict[LogicalType, tuple[int, int]] = {
    LogicalType.TINYINT: (-(1 << 7), (1 << 7) - 1),
    LogicalType.SMALLINT: (-(1 << 15), (1 << 15) - 1),
    LogicalType.INTEGER: (-(1 << 31), (1 << 31) - 1),
    LogicalType.BIGINT: (-(1 << 63), (1 << 63) - 1),
    LogicalType.UTINYINT: (0, (1 << 8) - 1),
    LogicalType.USMALLINT: (0, (1 << 16) - 1),
    LogicalType.UINTEGER: (0, (1 << 32) - 1),
    LogicalType.UBIGINT: (0, (1 << 64) - 1),
}
# The largest finite 32-bit float: 1e39 is finite for Python and out of range for FLOAT.
FLOAT32_MAX = 3.4028234663852886e38
FLOAT_LIMITS: dict[LogicalType, float] = {LogicalType.FLOAT: FLOAT32_MAX,
                                          LogicalType.DOUBLE: sys.float_info.max}


def logical(name: str) -> LogicalType:
    """``"UBIGINT"`` -> LogicalType.UBIGINT; a clear error for anything else."""
    try:
        return LogicalType(name.strip().upper())
    except ValueError:
        raise ValueError(f"unknown column type {name!r}; one of "
                         f"{', '.join(t.value for t in LogicalType)}") from None
