"""The runtime: configuration, wiring, channels, the command line."""
