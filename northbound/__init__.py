"""The northbound: REST API, web UI, /metrics and /healthz (docs/api.md), a thin HTTP shell
over the service core."""
