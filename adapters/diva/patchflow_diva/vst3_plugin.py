"""Hook implementations registering the generic VST3 synth."""
