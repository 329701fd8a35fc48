"""Long-running processes and entry points: CLI, watcher, executor, web server."""
