"""The command-line client: ``filestoraged put|get|rm|ls`` against a server."""
