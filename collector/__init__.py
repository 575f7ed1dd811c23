"""The callstats collector: REST v1 ingest, auth, storage, the bundle and the dashboard."""
