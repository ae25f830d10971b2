"""Synthetic B2B market with hidden truth: the files a real user would bring, plus a step-able
environment over the same hidden states. See docs/simulator.md."""

from .config import MarketConfig
from .env import MarketEnv
from .market import SimulationManifest, simulate_market

__all__ = ["MarketConfig", "MarketEnv", "SimulationManifest", "simulate_market"]
