"""theodoi: web."""
