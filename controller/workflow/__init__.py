"""The workflow of CONTRACT §3, one module per thing it acts on."""
