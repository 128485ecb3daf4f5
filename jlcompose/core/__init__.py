"""Pure: no I/O beyond reading the files it is handed; tested without Docker."""
