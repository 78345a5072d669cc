"""Seeds for the Microsoft 365 emulator (the plain dict format described in docs/emulator.md)."""

from sp_sync.emulator.seeds.demo import DATA_PROBLEMS, DEMO_COUNTS, demo_counts, demo_seed

__all__ = ["DATA_PROBLEMS", "DEMO_COUNTS", "demo_counts", "demo_seed"]
