"""The daemon: rounds on a schedule over kept-open connections, an HTTP API, the live
report and Prometheus metrics. Its client (:mod:`onion.daemon.client`) imports nothing
of the server side, so `onion ctl` starts fast."""
