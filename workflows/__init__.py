"""theodoi: workflows."""
