"""Demo data: realistic brands, staff, customers and orders for ``siyu demo``."""
