"""One module per command; see jlcompose/cli.py for the contract."""
