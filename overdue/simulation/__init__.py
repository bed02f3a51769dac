"""Strategy simulation: a synthetic portfolio run through the real workflows under two
collections policies (champion and challenger) on the time-skipping server."""
