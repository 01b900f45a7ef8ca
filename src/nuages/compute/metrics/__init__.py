"""VM supervision series: collector, rollups, reads (issue 14.4)."""
