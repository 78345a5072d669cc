"""Benchmarks (run against the local emulator; results go to var/bench/, never into git)."""
