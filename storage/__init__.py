"""theodoi: storage."""
