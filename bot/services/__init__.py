"""The rules of the product: plain async Python that never imports discord."""
