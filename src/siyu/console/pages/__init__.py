"""Console pages, one module per area; each registers its routes in ``register()``."""
