"""Fakes for tests (an in-memory SharePoint). Never imported by production code."""
