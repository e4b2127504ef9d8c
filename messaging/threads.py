"""Assemble a reply tree from the flat rows of the recursive thread query."""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import Message

# Deeper replies are drawn at this indentation and say whom they answer.
MAX_INDENT = 5


@dataclass
class Node:
    message: Message
    depth: int
    children: list[Node] = field(default_factory=list)

    @property
    def indent(self) -> int:
        return min(self.depth, MAX_INDENT)

    @property
    def flattened(self) -> bool:
        return self.depth > MAX_INDENT


def build_tree(root: Message, rows) -> list[Node]:
    """Turn rows (root and descendants, each with `depth`, ordered by time) into the
    list of the root's reply nodes, each holding its own replies. One pass, no queries."""
    nodes: dict[int, Node] = {}
    top: list[Node] = []
    for message in rows:
        node = Node(message, message.depth)
        nodes[message.pk] = node
        if message.pk == root.pk:
            continue
        parent = nodes.get(message.parent_message_id)
        if parent is None or message.parent_message_id == root.pk:
            top.append(node)
        else:
            parent.children.append(node)
        if parent is not None:
            message.parent_sender = parent.message.sender
    return top


def walk(nodes: list[Node]):
    """Depth-first, in display order (what a template loops over, without recursion)."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))
