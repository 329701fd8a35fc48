"""sohoa: digitize paper dossiers of Vietnamese administrative procedures."""

__version__ = "0.1.0"
