"""theodoi: engine."""
