"""The domain: task model, poll policy, outcome rules, the watcher and the webhook use cases. Imports only itself."""
