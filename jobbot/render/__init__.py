"""Pure renderers, one module per message kind: jobs and problems in, Slack messages out."""
