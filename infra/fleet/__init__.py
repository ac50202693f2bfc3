"""SSH fan-out to the site's nodes (paramiko): facts gathered from the real tools' outputs
and health checks of those facts against the design and the pins."""
