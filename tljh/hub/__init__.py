"""What runs inside the hub: its config file, the spawner, plugins and their hooks."""
