"""Model providers: one streaming interface, several wire formats."""
