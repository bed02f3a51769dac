"""overdue: a Temporal-orchestrated collections service for overdue loans."""
