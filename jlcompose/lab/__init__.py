"""What happens to a lab: up, hot installs, the watcher, status, down."""
