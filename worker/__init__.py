"""dirsync worker: Celery tasks, the WorkOS client, the sync engine, models and operator CLI."""
