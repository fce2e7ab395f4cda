"""The public plugin API: everything a probe, sink or notifier plugin imports, in one
module. Names here are stable; everything else in Onion is private and may move.

    from onion.plugin import OS, Part, Probe, col, ParseError       # a probe
    from onion.plugin import Batch, Sink, SinkContext, Written       # a sink
    from onion.plugin import Message, NotifyError                    # a notifier

See docs/plugins.md for a complete probe and a complete sink.
"""

from __future__ import annotations

from onion.alerts.messages import Message
from onion.alerts.notifiers import Notifier, NotifyError, secret, settings
from onion.core.errors import ConfigError, ParseError, SinkError, StorageError, Unavailable
from onion.core.types import LogicalType
from onion.probes.base import OS, Part, Probe, Table, col, only_part, partial, to_float, to_int
from onion.storage.batch import Batch
from onion.storage.schema import ColumnSpec, TableSpec
from onion.storage.sink import Health, Sink, SinkContext, Written

__all__ = [
    "OS", "Batch", "ColumnSpec", "ConfigError", "Health", "LogicalType", "Message",
    "Notifier", "NotifyError", "ParseError", "Part", "Probe", "Sink", "SinkContext",
    "SinkError", "StorageError", "Table", "TableSpec", "Unavailable", "Written", "col",
    "only_part", "partial", "secret", "settings", "to_float", "to_int",
]
