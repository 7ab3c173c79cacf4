"""jobbot: GraphScope Interactive jobs from Slack."""

__version__ = "0.1.0"
