"""Shared test settings."""

import matplotlib

matplotlib.use("Agg")
