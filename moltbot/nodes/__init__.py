"""Nodes: pairing, the connected-node registry, node.invoke, the command policy and discovery."""
