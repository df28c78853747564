"""Images: OCI manifests and configs, layers, references and archive safety."""
