"""The edge: command line, wiring of adapters, the daemon loop, the demo."""
