"""metroshare: an SDN service controller for metro Ethernet providers."""

__version__ = "0.1.0"
