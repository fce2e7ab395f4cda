"""The application: a round from inventory to sinks, alerts and notifications, and the
loading of config and plugins that the command line (and the daemon) share."""
