"""sp-sync: the scheduled service behind the City of Mannheim DTC's SharePoint lists."""

__version__ = "0.1.0"
