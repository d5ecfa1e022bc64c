"""Business layer: every rule of Parley, with repositories passed in."""
