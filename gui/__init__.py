"""The desktop view, ``onion gui`` (Qt: the ``gui`` extra).

A client on top of the rest: it reads through the daemon's API (:mod:`onion.daemon.client`)
or a read-only DuckDB connection, with the report's own queries; nothing imports it.
``data``, ``tables``, ``remote`` and ``windows`` are plain Python (loads and the views'
text, on worker threads); ``worker``, ``models``, ``charts``, ``window`` and ``app`` are Qt.
"""
