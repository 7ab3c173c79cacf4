"""The playground: jobbot in a browser, with no Slack workspace and no GraphScope."""
