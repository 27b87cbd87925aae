"""micro_etcd: under construction (issue 13)."""
