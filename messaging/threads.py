"""Assemble a reply tree from the flat rows of the recursive thread query.

The page nests each node's replies in a group right after it, so a new reply can be
appended to the group of the message it answers wherever that message is shown, and
indentation comes from the nesting itself: app.css indents five levels, then deeper
replies stay flat and say whom they answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import Message


@dataclass
class Node:
    message: Message
    depth: int
    children: list[Node] = field(default_factory=list)
    # How many reply groups end right after this node: its own when it has no replies,
    # plus those of the ancestors whose last descendant it is. Set by walk(); a node
    # drawn on its own (a new reply) closes just its own group.
    closes: int = 1

    @property
    def close_range(self) -> range:
        return range(self.closes)


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
    # A deleted reply stays (as "Message deleted") only while it has replies that are shown;
    # replies come after what they answer, so going backwards settles children first.
    for message in reversed(rows):
        node = nodes[message.pk]
        if message.deleted_at is not None and not node.children and message.pk != root.pk:
            parent = nodes.get(message.parent_message_id)
            siblings = top if parent is None or message.parent_message_id == root.pk else parent.children
            siblings.remove(node)
    return top


def walk(nodes: list[Node]):
    """Depth-first, in display order, each node with `closes` set: a template loops over
    this and still nests the groups, without recursive includes (a thread can be 50 deep)."""
    # Each entry: a node and how many ancestor groups end after its subtree.
    stack = [(node, 0) for node in reversed(nodes)]
    while stack:
        node, pending = stack.pop()
        if node.children:
            node.closes = 0  # its group stays open for its replies; the last one closes it
            stack.append((node.children[-1], pending + 1))
            stack.extend((child, 0) for child in reversed(node.children[:-1]))
        else:
            node.closes = 1 + pending
        yield node
