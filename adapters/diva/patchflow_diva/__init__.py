"""patchflow adapter for u-he Diva."""
