"""Hook implementations registering Diva."""
