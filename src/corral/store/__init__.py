"""The store: content-addressed blobs, unpacked layers, container directories and the metadata DB."""
