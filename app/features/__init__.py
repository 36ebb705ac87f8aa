"""Per-user feature state and the builders that turn it into model inputs."""
