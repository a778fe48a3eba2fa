"""theodoi: notifications."""
