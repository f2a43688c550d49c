"""OneID: one customer across channels, from strong keys and reviewed proposals."""
