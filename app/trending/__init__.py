"""Trending items: windowed counts per item across users, merged over the deployment."""

from app.trending.board import TrendingBoard, TrendingReport
from app.trending.counter import TrendingCounter, counts_table
from app.trending.windows import TrendingConfig

__all__ = ["TrendingBoard", "TrendingConfig", "TrendingCounter", "TrendingReport", "counts_table"]
