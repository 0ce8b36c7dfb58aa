"""A reusable test suite that synth adapters run against themselves."""
