"""Configuration files: settings, list mapping and job files (file, key and reason on errors)."""
