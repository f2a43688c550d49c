"""Background work: the huey instance, the outbox and its dispatcher."""
