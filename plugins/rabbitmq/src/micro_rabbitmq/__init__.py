"""micro_rabbitmq: under construction (issue 13)."""
